"""Backends failing every way through a real router, with one healthy backend
left: every request completes with the whole answer, and no stream is ever
truncated silently.

Three fake LLM servers: `alpha` and `beta` fail (HTTP 500/503, 429, reset
before the first token, reset after a few tokens, stall before and after the
first token, malformed chunks, a stream without its end marker), `beta` sits
behind the TCP proxy whose toxics cut, slice, delay, stall and reset its
connections too; `gamma` is healthy. Every stream must end with exactly one
done (text == the fake's full answer) or error event; with gamma there, every
one must be done. When all three fail mid-stream the caller gets an explicit
error event whose text is a prefix of the answer, never a silent end."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from rel_support import (
    Streamed,
    backend_table,
    generate,
    percentiles,
    record,
    router_settings,
    start_fakes,
    truncation_problem,
    write_backends,
)
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.testing.fake_backend import FakeBackend
from switchboard.testing.tcp_proxy import TcpProxy, Toxic

FAULTS = [
    "http_error:500",
    "http_error:503",
    "rate_limit:1",
    "reset_before_first_token",
    "reset_after:3",
    "stall:0",
    "stall:4",
    "malformed:2",
    "missing_end",
]
TOXICS = [
    None,
    Toxic.limit_data(400),  # the body is cut mid-stream
    Toxic.slicer(7, size_variation=3, delay_s=0.001),  # SSE arrives in tiny pieces (must still parse)
    Toxic.reset(0.05),  # RST shortly after the link is set up or the toxic added
    Toxic.timeout(0),  # stall: nothing comes back
    Toxic.latency(0.02, jitter_s=0.01),
    Toxic.bandwidth(4000),
]
FAST_FAIL = {"first_token_s": 0.4, "between_tokens_s": 0.4, "total_s": 10.0}


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeBackend]]:
    started = await start_fakes(3, tokens=16)
    yield started
    for fb in started:
        await fb.stop()


async def _router(serve, mesh_settings, tmp_path: Path, fakes: list[FakeBackend], beta_url: str,
                  **overrides) -> router_pb2_grpc.RouterServiceStub:
    alpha, _beta, gamma = fakes
    config = write_backends(tmp_path / "backends.toml", [
        backend_table("alpha", alpha.url, priority=1, **FAST_FAIL),
        backend_table("beta", beta_url, priority=2, **FAST_FAIL),
        backend_table("gamma", gamma.url, priority=3),
    ])
    running = await serve("router", settings=router_settings(mesh_settings, config, **overrides))
    return router_pb2_grpc.RouterServiceStub(running.channel)


async def _matrix(stub: router_pb2_grpc.RouterServiceStub, fakes: list[FakeBackend], proxy: TcpProxy,
                  combos: list[tuple[str, str | None, Toxic | None]], per_combo: int) -> list[tuple[str, Streamed, str]]:
    alpha, beta, gamma = fakes
    results: list[tuple[str, Streamed, str]] = []
    for n, (fault_a, fault_b, toxic) in enumerate(combos):
        alpha.set_fault(fault_a)
        beta.set_fault(fault_b)
        proxy.clear_toxics()
        if toxic is not None:
            proxy.add_toxic(toxic)
        prompts = [f"question {n}.{i} about {fault_a}" for i in range(per_combo)]
        outs = await asyncio.gather(*(generate(stub, timeout=30, prompt=p, request_id=f"r{n}.{i}")
                                      for i, p in enumerate(prompts)))
        for prompt, out in zip(prompts, outs, strict=True):
            label = f"alpha={fault_a} beta={fault_b} toxic={toxic.kind.value if toxic else None}"
            results.append((label, out, gamma.answer_for([("user", prompt)])))
    proxy.clear_toxics()
    return results


def _check_and_record(scenario: str, results: list[tuple[str, Streamed, str]], fakes: list[FakeBackend]) -> None:
    problems = [f"{label}: {problem}" for label, out, expected in results
                if (problem := truncation_problem(out, expected)) is not None]
    not_done = [f"{label}: ended {out.terminal} {out.code.name} {out.details}" for label, out, _ in results
                if out.terminal != "done" or out.code != grpc.StatusCode.OK]
    switches = sum(len(out.of("backend_switch")) for _, out, _ in results)
    continuations = sum(1 for _, out, _ in results for s in out.of("backend_switch") if s.continuation)
    attempts = [len(out.done.attempts) for _, out, _ in results if out.terminal == "done"]
    outcomes: dict[str, int] = {}
    for _, out, _ in results:
        for attempt in (out.done.attempts if out.terminal == "done" else []):
            name = f"{attempt.backend}:{router_pb2.AttemptOutcome.Name(attempt.outcome).removeprefix('ATTEMPT_OUTCOME_')}"
            outcomes[name] = outcomes.get(name, 0) + 1
    record(
        scenario,
        requests=len(results),
        completed=len(results) - len(not_done),
        silent_truncations=sum(1 for p in problems if "silent" in p),
        wrong_text=sum(1 for p in problems if "differs" in p),
        backend_switches=switches,
        mid_stream_continuations=continuations,
        mean_attempts=round(sum(attempts) / max(1, len(attempts)), 2),
        attempt_outcomes=dict(sorted(outcomes.items())),
        **percentiles([out.elapsed_s for _, out, _ in results]),
    )
    assert not problems, "\n".join(problems[:20])
    assert not not_done, "\n".join(not_done[:20])


def _combos(slow: bool) -> list[tuple[str, str | None, Toxic | None]]:
    if slow:  # every pair of faults, each toxic in turn on beta's link
        toxics = itertools.cycle(TOXICS)
        return [(a, b, next(toxics)) for a in FAULTS for b in FAULTS]
    return [(a, FAULTS[(i + 4) % len(FAULTS)], TOXICS[i % len(TOXICS)]) for i, a in enumerate(FAULTS)] + [
        (FAULTS[i % len(FAULTS)], None, toxic) for i, toxic in enumerate(TOXICS) if toxic is not None
    ]


@pytest.mark.parametrize("breakers", ["never_trip", "default"])
async def test_every_request_completes_whole_when_one_backend_is_healthy(
    serve, mesh_settings, tmp_path, fakes, breakers
) -> None:
    async with TcpProxy("127.0.0.1", fakes[1].port) as proxy:
        overrides = {"router_breaker_minimum_calls": 10_000, "router_breaker_window_size": 10_000} if breakers == "never_trip" else {}
        stub = await _router(serve, mesh_settings, tmp_path, fakes, f"http://{proxy.address}", **overrides)
        results = await _matrix(stub, fakes, proxy, _combos(slow=False), per_combo=4)
    _check_and_record(f"backend faults, one healthy (breakers {breakers}, short)", results, fakes)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_every_fault_pair_and_toxic_long_form(serve, mesh_settings, tmp_path, fakes) -> None:
    async with TcpProxy("127.0.0.1", fakes[1].port) as proxy:
        stub = await _router(serve, mesh_settings, tmp_path, fakes, f"http://{proxy.address}",
                             router_breaker_minimum_calls=10_000, router_breaker_window_size=10_000)
        results = await _matrix(stub, fakes, proxy, _combos(slow=True), per_combo=6)
    _check_and_record("backend faults, one healthy (every pair, long)", results, fakes)


async def test_when_every_backend_fails_mid_stream_the_caller_gets_an_error_event(
    serve, mesh_settings, tmp_path, fakes
) -> None:
    for fb in fakes:
        fb.set_fault("reset_after:3")
    config = write_backends(tmp_path / "backends.toml", [
        backend_table(name, fb.url, priority=i, **FAST_FAIL) for i, (name, fb) in enumerate(zip(("a", "b", "c"), fakes))
    ])
    running = await serve("router", settings=router_settings(mesh_settings, config, router_breaker_minimum_calls=10_000, router_breaker_window_size=10_000))
    stub = router_pb2_grpc.RouterServiceStub(running.channel)
    prompts = [f"doomed question {i}" for i in range(12)]
    outs = await asyncio.gather(*(generate(stub, prompt=p) for p in prompts))
    problems = [truncation_problem(out, fakes[0].answer_for([("user", p)])) for p, out in zip(prompts, outs, strict=True)]
    assert problems == [None] * len(prompts), problems
    # The error event, then the call's status says the same (UNAVAILABLE).
    assert all(out.terminal == "error" and out.code == grpc.StatusCode.UNAVAILABLE for out in outs), [o.kinds for o in outs]
    assert all(out.text and out.of("error")[0].chars_sent == len(out.text) for out in outs)
    record("every backend fails mid-stream", requests=len(outs),
           explicit_error_events=sum(o.terminal == "error" for o in outs),
           silent_truncations=sum(o.terminal is None for o in outs),
           mean_chars_before_error=round(sum(len(o.text) for o in outs) / len(outs), 1))


async def test_complete_never_returns_a_truncated_text(serve, mesh_settings, tmp_path, fakes) -> None:
    """The unary Complete: a full answer, or a status; never a partial text as if whole."""
    async with TcpProxy("127.0.0.1", fakes[1].port) as proxy:
        stub = await _router(serve, mesh_settings, tmp_path, fakes, f"http://{proxy.address}",
                             router_breaker_minimum_calls=10_000, router_breaker_window_size=10_000)
        bad = []
        for n, fault in enumerate(FAULTS):
            fakes[0].set_fault(fault)
            fakes[1].set_fault(FAULTS[(n + 2) % len(FAULTS)])
            prompt = f"complete me {n}"
            reply = await stub.Complete(router_pb2.CompleteRequest(prompt=prompt), timeout=30)
            if reply.text != fakes[2].answer_for([("user", prompt)]):
                bad.append((fault, reply.text))
        assert not bad
