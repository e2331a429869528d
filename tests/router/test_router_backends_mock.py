"""The mock backend: deterministic text, continuation, delays and timeouts on
the injected clock, seeded faults."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.router.backends import (
    BackendConfig,
    BackendError,
    BackendRequest,
    ChatTurn,
    Chunk,
    ErrorKind,
    build_backend,
    make_http_client,
)
from services.router.backends.mock import MockBackend
from switchboard.runtime.clock import ManualClock

ASK = BackendRequest(messages=(ChatTurn("user", "What is a circuit breaker in software?"),))


def mock(clock: ManualClock | None = None, timeouts: dict[str, float] | None = None, **options: Any) -> MockBackend:
    config = BackendConfig(name="demo", kind="mock", mock=options, timeouts=timeouts or {})
    return MockBackend(config, clock or ManualClock())


async def collect(backend: MockBackend, request: BackendRequest = ASK) -> list[Chunk]:
    return [c async for c in backend.stream(request)]


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_deterministic_text_that_says_it_is_a_mock() -> None:
    first = await collect(mock())
    second = await collect(mock())
    assert first == second
    text = "".join(c.text for c in first)
    assert "mock" in text and "circuit breaker" in text
    assert first[-1].finish_reason == "stop"
    assert first[-1].completion_tokens == len(first) - 1
    assert first[-1].prompt_tokens == 7
    other = await collect(mock(), BackendRequest(messages=(ChatTurn("user", "something else"),)))
    assert "".join(c.text for c in other) != text


async def test_fixed_text_max_tokens_and_continuation() -> None:
    backend = mock(text="one two three four five")
    assert backend.supports_continuation
    limited = await collect(backend, BackendRequest(messages=ASK.messages, max_tokens=2))
    assert [c.text for c in limited[:-1]] == ["one", " two"]
    assert limited[-1].finish_reason == "length"
    rest = await collect(backend, BackendRequest(messages=ASK.messages, assistant_prefix="one two"))
    assert "".join(c.text for c in rest) == " three four five"


async def test_delays_follow_the_injected_clock() -> None:
    clock = ManualClock()
    backend = mock(clock, first_token_delay_s=2.0, token_delay_s=0.5, text="a b c")
    got: list[Chunk] = []

    async def run() -> None:
        async for chunk in backend.stream(ASK):
            got.append(chunk)

    task = asyncio.create_task(run())
    await settle()
    assert got == []  # waiting for the first token's delay
    clock.advance(2.0)
    await settle()
    assert [c.text for c in got] == ["a"]
    clock.advance(0.5)
    await settle()
    assert [c.text for c in got] == ["a", " b"]
    clock.advance(0.5)
    await asyncio.wait_for(task, 1.0)
    assert got[-1].finish_reason == "stop"


@pytest.mark.parametrize(
    ("options", "timeouts", "advance", "words", "expected"),
    [
        ({"first_token_delay_s": 10.0}, {"first_token_s": 1.0}, 1.0, 0, "first token"),
        ({"token_delay_s": 10.0}, {"between_tokens_s": 1.0}, 1.0, 1, "gap between tokens"),
        ({"token_delay_s": 0.6}, {"total_s": 1.0}, 0.6, 2, "total time"),
    ],
)
async def test_timeouts_on_the_injected_clock(
    options: dict[str, float], timeouts: dict[str, float], advance: float, words: int, expected: str
) -> None:
    clock = ManualClock()
    backend = mock(clock, timeouts=timeouts, text="a b c d e f", **options)
    got: list[str] = []

    async def run() -> None:
        async for chunk in backend.stream(ASK):
            got.append(chunk.text)

    task = asyncio.create_task(run())
    for _ in range(4):
        await settle()
        clock.advance(advance)
    with pytest.raises(BackendError) as info:
        await asyncio.wait_for(task, 1.0)
    assert info.value.kind is ErrorKind.TIMEOUT
    assert expected in info.value.detail
    assert len(got) == words


async def test_seeded_faults_repeat_and_fail_as_configured() -> None:
    async def outcomes(backend: MockBackend) -> list[str]:
        out = []
        for _ in range(20):
            try:
                await collect(backend)
                out.append("ok")
            except BackendError as exc:
                out.append(exc.kind.value)
        return out

    first = await outcomes(mock(fail_rate=0.5, seed=7, fail_kind="rate_limited"))
    again = await outcomes(mock(fail_rate=0.5, seed=7, fail_kind="rate_limited"))
    other_seed = await outcomes(mock(fail_rate=0.5, seed=8, fail_kind="rate_limited"))
    assert first == again
    assert first != other_seed
    assert set(first) == {"ok", "rate_limited"}
    assert set(await outcomes(mock(fail_rate=1.0))) == {"server"}
    assert set(await outcomes(mock(fail_rate=0.0))) == {"ok"}


async def test_a_fault_after_some_tokens() -> None:
    backend = mock(fail_rate=1.0, fail_kind="connection", fail_after_tokens=2, text="a b c d")
    got: list[str] = []
    with pytest.raises(BackendError) as info:
        async for chunk in backend.stream(ASK):
            got.append(chunk.text)
    assert got == ["a", " b"]
    assert info.value.kind is ErrorKind.CONNECTION


async def test_built_by_the_factory_probe_and_close_are_harmless() -> None:
    async with make_http_client(trust_env=False) as client:
        backend = build_backend(BackendConfig(name="demo", kind="mock"), client, ManualClock(), {})
    assert isinstance(backend, MockBackend)
    await backend.probe()
    await backend.aclose()
    assert backend.config.is_mock
