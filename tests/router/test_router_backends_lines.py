"""Splitting a streamed body into lines: every way a read can cut a line, and
only SSE/NDJSON line ends count."""

from __future__ import annotations

import pytest

from services.router.backends.lines import BodyLines, LineSplitter


def _split_all(pieces: list[str]) -> list[str]:
    splitter = LineSplitter()
    out: list[str] = []
    for piece in pieces:
        out += splitter.feed(piece)
    return out + splitter.end()


TEXT = 'data: {"a": 1}\r\n\r\ndata: two\n\nevent: x\rdata: y\r\r: comment\nlast'
EXPECTED = ['data: {"a": 1}', "", "data: two", "", "event: x", "data: y", "", ": comment", "last"]


def test_lines_in_one_piece() -> None:
    assert _split_all([TEXT]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11])
def test_lines_cut_anywhere_give_the_same_lines(size: int) -> None:
    pieces = [TEXT[i:i + size] for i in range(0, len(TEXT), size)]
    assert _split_all(pieces) == EXPECTED


def test_crlf_cut_between_cr_and_lf_is_one_line_end() -> None:
    assert _split_all(["a\r", "\nb\r", "\n"]) == ["a", "b"]
    assert _split_all(["a\r", "", "\nb"]) == ["a", "b"]  # an empty read in between changes nothing


def test_a_read_ending_in_two_crs_keeps_the_empty_line() -> None:
    # CR-only SSE: "data: x\r\r" is a line and the blank line that ends the event.
    assert _split_all(["data: x\r\r", "data: y\r\r"]) == ["data: x", "", "data: y", ""]
    assert _split_all(["y\r\r", "\n"]) == ["y", ""]  # "y\r\r\n": a CR, then a CRLF cut between reads


def test_a_lone_cr_ends_a_line_at_once() -> None:
    splitter = LineSplitter()
    assert splitter.feed("first\r") == ["first"]  # not held back waiting for a possible LF
    assert splitter.feed("second\n") == ["second"]


def test_only_wire_line_ends_split() -> None:
    # str.splitlines would cut at U+2028, U+0085 and form feeds inside JSON strings.
    line = 'data: {"t": "a\u2028b\x0cc\x85d"}'
    assert _split_all([line + "\n"]) == [line]


def test_unterminated_last_line_comes_out_at_the_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed('{"done": true}') == []
    assert splitter.end() == ['{"done": true}']
    assert splitter.end() == []


def test_body_lines_decode_utf8_cut_inside_a_character() -> None:
    data = "data: héllo ✓\n".encode()
    lines = BodyLines(None)
    out: list[str] = []
    for i in range(len(data)):
        out += lines.feed(data[i:i + 1])
    assert out + lines.end() == ["data: héllo ✓"]


def test_body_lines_replace_invalid_bytes_and_honour_the_charset() -> None:
    assert BodyLines("utf-8").feed(b"bad \xff byte\n") == ["bad \ufffd byte"]
    assert BodyLines("latin-1").feed("café\n".encode("latin-1")) == ["café"]
