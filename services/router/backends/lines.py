"""Lines from a body that arrives in pieces, split the way the wire formats say.

Server-sent events end a line with CRLF, LF or CR; NDJSON with LF. Nothing else
ends a line: unlike `str.splitlines` (and httpx's `aiter_lines`), a U+2028 or a
form feed inside a JSON string stays where it is.

Splitting here, once per network read, is also the router's hot path: an
answer arrives in a few reads but dozens of lines, and reading it line by line
through an HTTP client's stacked async iterators, each under its own timeout, cost more
CPU than the rest of relaying it.
"""

from __future__ import annotations

import codecs
import re

_LINE_END = re.compile(r"\r\n|\r|\n")


class LineSplitter:
    """Complete lines (without their ends) from text fed in pieces."""

    def __init__(self) -> None:
        self._partial = ""
        self._after_cr = False  # the last piece ended in CR: a leading LF belongs to it

    def feed(self, text: str) -> list[str]:
        if not text:
            return []
        if self._after_cr:
            self._after_cr = False
            if text.startswith("\n"):
                text = text[1:]
                if not text:
                    return []
        if text.endswith("\r"):
            # The line ends here even if an LF follows in the next piece: every
            # piece before this CR is a whole line (also an empty one: "x\r\r").
            self._after_cr = True
            lines = _LINE_END.split(self._partial + text[:-1])
            self._partial = ""
            return lines
        lines = _LINE_END.split(self._partial + text)
        self._partial = lines.pop()
        return lines

    def end(self) -> list[str]:
        """The unterminated last line, if any (the body has ended)."""
        rest, self._partial = self._partial, ""
        return [rest] if rest else []


class BodyLines:
    """Bytes in, decoded lines out: the charset decoder and the splitter together."""

    def __init__(self, encoding: str | None) -> None:
        try:
            decoder = codecs.getincrementaldecoder(encoding or "utf-8")
        except LookupError:  # a charset Python does not know: UTF-8, as the formats say
            decoder = codecs.getincrementaldecoder("utf-8")
        self._decoder = decoder(errors="replace")
        self._lines = LineSplitter()

    def feed(self, data: bytes) -> list[str]:
        return self._lines.feed(self._decoder.decode(data))

    def end(self) -> list[str]:
        return self._lines.feed(self._decoder.decode(b"", final=True)) + self._lines.end()
