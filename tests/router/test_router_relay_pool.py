"""Three relay defects the benchmark found: the router's own connection pool
running dry is local overload (never the backend's failure), tokens that are
ready together travel as one TokenEvent (never held back), and upstream time
counts only the waits on the backend, so overhead is the router's real cost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from router_harness import (
    MemoryLearning,
    eventually,
    fake_table,
    generate,
    serve_learning,
    start_router,
)

from services.router.backends.base import (
    BackendRequest,
    Chunk,
    ErrorKind,
    transport_error,
)
from services.router.backends.client import PoolExhausted
from services.router.backends.config import BackendConfig
from services.router.breaker import BreakerConfig, CircuitBreaker
from services.router.chain import Chain, ChainOptions, Done, Lane, Start, Switch, Token
from services.router.outcomes import OutcomeRecord
from services.router.relay import coalesced, merge_tokens
from services.router.stats import BackendStats
from services.router.topics import TopicClassifier
from services.router.validation import Draft, Limits, validate
from switchboard.learning.v1 import learning_pb2 as L
from switchboard.router.v1 import router_pb2
from switchboard.runtime.clock import ManualClock
from switchboard.testing.fake_backend import FakeBackend, fake_answer

R = router_pb2

# -- 1. the router's pool running dry is not the backend's failure ------------------------


def test_pool_timeout_maps_to_local_overload_not_timeout() -> None:
    error = transport_error(PoolExhausted("no connection"), "sending the request")
    assert error.kind is ErrorKind.POOL_EXHAUSTED and "pool exhausted" in error.detail
    assert transport_error(aiohttp.ConnectionTimeoutError("slow"), "x").kind is ErrorKind.TIMEOUT


async def test_exhausted_pool_never_blames_the_healthy_backend(serve, mesh_settings, tmp_path) -> None:
    learning = MemoryLearning()
    peer = await serve_learning(serve, learning)
    async with FakeBackend(tokens=4, token_delay_s=0.3) as fake:  # each stream holds its connection ~1.2 s
        router = await start_router(
            serve, mesh_settings, tmp_path,
            # connect_s was the pool wait before the fix: short here so the old code shows its blame.
            [fake_table("alpha", fake, timeouts={"connect_s": 0.2, "first_token_s": 5, "between_tokens_s": 5})],
            learning=peer.address,
            router_max_connections=2,
            router_pool_wait_s=0.2,
            # A breaker that opens on the first failure: any blame would show.
            router_breaker_minimum_calls=1,
            router_breaker_window_size=2,
        )
        outs = await asyncio.gather(*(generate(router.stub, prompt=f"Slow one {i}") for i in range(4)))

        answered = [o for o in outs if o.code == grpc.StatusCode.OK]
        refused = [o for o in outs if o.code != grpc.StatusCode.OK]
        # The pool's two connections served their callers in full; the other two waited 0.2 s
        # for a connection while those streams held theirs for ~1.2 s.
        assert (len(answered), len(refused)) == (2, 2), [o.code for o in outs]
        for i, out in enumerate(outs):
            out.assert_well_formed()
            if out in answered:
                assert out.text == fake_answer([("user", f"Slow one {i}")], tokens=4)
                assert not out.done.degraded
        for out in refused:
            assert out.code == grpc.StatusCode.RESOURCE_EXHAUSTED, out.details
            assert out.error.code == "RESOURCE_EXHAUSTED" and "pool exhausted" in out.error.message
            assert [(a.backend, a.outcome) for a in out.error.attempts] == [("alpha", R.ATTEMPT_OUTCOME_SKIPPED)]
        assert len(fake.requests) == len(answered)  # the refused never reached the backend

        backends = (await router.stub.ListBackends(R.ListBackendsRequest())).backends
        assert backends[0].breaker_state == R.BREAKER_STATE_CLOSED
        await eventually(lambda: len(learning.interactions) == len(answered), what="outcomes at learning")
        await asyncio.sleep(0.2)  # nothing more arrives: the refused attempts are not learned from
        assert {i.outcome for i in learning.interactions.values()} == {L.OUTCOME_SUCCESS}


# -- 2. coalescing ---------------------------------------------------------------------------


def test_merge_tokens_keeps_order_and_backends_apart() -> None:
    start = Start("r", "a", "m", "t", True, False, False, "", False, "")
    switch = Switch("a", "b", "reset", 2, True)
    merged = merge_tokens([start, Token("x", "a"), Token("y", "a"), switch, Token("z", "b"), Token("w", "b")])
    assert merged == [start, Token("xy", "a"), switch, Token("zw", "b")]
    assert merge_tokens([Token("x", "a"), Token("y", "b")]) == [Token("x", "a"), Token("y", "b")]


async def test_ready_tokens_go_out_together_and_late_ones_alone() -> None:
    async def burst() -> AsyncIterator[Token]:
        for i in range(50):
            yield Token(f"t{i} ", "a")  # all ready at once: no await in between

    got: list[Token] = []
    async for event in coalesced(burst()):
        got.append(event)  # type: ignore[arg-type]
        await asyncio.sleep(0.002)  # the write to the caller takes a while: tokens pile up meanwhile
    assert got[0] == Token("t0 ", "a")  # the first token alone, at once
    assert len(got) < 10 and "".join(e.text for e in got) == "".join(f"t{i} " for i in range(50))

    async def trickle() -> AsyncIterator[Token]:
        for i in range(5):
            await asyncio.sleep(0.01)
            yield Token(f"t{i}", "a")

    assert [e.text async for e in coalesced(trickle())] == [f"t{i}" for i in range(5)]


async def test_a_source_error_reaches_the_consumer_after_its_events() -> None:
    async def failing() -> AsyncIterator[Token]:
        yield Token("a", "x")
        raise ValueError("boom")

    got: list[Token] = []
    with pytest.raises(ValueError, match="boom"):
        async for event in coalesced(failing()):
            got.append(event)  # type: ignore[arg-type]
    assert got == [Token("a", "x")]


async def test_fast_backend_tokens_coalesce_slow_ones_do_not(serve, mesh_settings, tmp_path) -> None:
    async with FakeBackend(tokens=50) as fast, FakeBackend(tokens=5, token_delay_s=0.05) as slow:
        router = await start_router(serve, mesh_settings, tmp_path, [fake_table("fast", fast, priority=1),
                                                                      fake_table("slow", slow, priority=2)])
        out = await generate(router.stub, prompt="Many tokens please", pinned_backend="fast")
        assert out.code == grpc.StatusCode.OK
        out.assert_well_formed()
        assert out.text == fake_answer([("user", "Many tokens please")], tokens=50)
        assert len(out.of("token")) < 10  # one message per burst, not per token (3 here)
        assert out.done.usage.completion_tokens == 50  # usage still counts tokens, not messages

        out = await generate(router.stub, prompt="Few slow tokens", pinned_backend="slow")
        assert out.code == grpc.StatusCode.OK
        assert out.text == fake_answer([("user", "Few slow tokens")], tokens=5)
        assert len(out.of("token")) == 5  # nothing held back waiting for more


# -- 3. honest upstream time and overhead ------------------------------------------------


class _ClockedBackend:
    """An in-process backend whose every chunk takes `delay_s` of the manual clock."""

    supports_continuation = True

    def __init__(self, clock: ManualClock, tokens: int, delay_s: float) -> None:
        self.config = BackendConfig(name="b", kind="mock")
        self.clock, self.tokens, self.delay_s = clock, tokens, delay_s

    async def stream(self, request: BackendRequest, *, deadline: float | None = None) -> AsyncIterator[Chunk]:
        for i in range(self.tokens):
            self.clock.advance(self.delay_s)
            yield Chunk(text=f"w{i} ")
        self.clock.advance(self.delay_s)
        yield Chunk(finish_reason="stop", prompt_tokens=1, completion_tokens=self.tokens)

    async def probe(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class _Outcomes:
    def __init__(self) -> None:
        self.records: list[OutcomeRecord] = []

    def submit(self, record: OutcomeRecord) -> None:
        self.records.append(record)


async def test_upstream_time_is_the_wait_on_the_backend_not_the_relay() -> None:
    clock = ManualClock()
    backend = _ClockedBackend(clock, tokens=4, delay_s=0.1)
    lane = Lane(backend, CircuitBreaker("b", BreakerConfig(), clock), BackendStats(10))  # type: ignore[arg-type]
    chain = Chain([lane], clock=clock, options=ChainOptions(degraded_text="offline"), outcomes=_Outcomes())
    request = validate(Draft(prompt="hello"), limits=Limits(max_prompt_chars=100, max_tokens=10),
                       backends={"b"}, classifier=TopicClassifier())
    received = clock.monotonic()
    clock.advance(0.01)  # validation and routing: the router's own time
    done: Done | None = None
    async for event in chain.run(request, received_at=received, deadline=None):
        if isinstance(event, Token):
            clock.advance(0.05)  # handing the token to the caller: the router's time, not the backend's
        if isinstance(event, Done):
            done = event
    assert done is not None
    assert done.upstream_time_s == pytest.approx(0.5)  # 4 tokens + the finish, 0.1 s each
    assert done.total_time_s == pytest.approx(0.01 + 0.5 + 4 * 0.05)
    assert done.overhead_s == pytest.approx(0.01 + 4 * 0.05)
    assert done.attempts[0].duration_s == pytest.approx(0.5 + 4 * 0.05)  # the attempt is still whole


async def test_overhead_is_positive_and_upstream_covers_the_backend_delays(serve, mesh_settings, tmp_path) -> None:
    async with FakeBackend(tokens=5, token_delay_s=0.05) as fake:
        router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", fake)])
        out = await generate(router.stub, prompt="Timed answer")
        assert out.code == grpc.StatusCode.OK
        done = out.done
        total, upstream, overhead = (d.ToTimedelta().total_seconds()
                                     for d in (done.total_time, done.upstream_time, done.overhead))
        assert upstream >= 5 * 0.05 * 0.95  # at least the fake's delays
        assert overhead > 0 and upstream < total
        assert overhead == pytest.approx(total - upstream, abs=1e-5)
