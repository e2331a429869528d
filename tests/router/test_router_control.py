"""Breakers driven through the router's clock, half-open probes, the admin
RPC, ListBackends figures, cancellation reaching the upstream, deadlines, and
every bad-input case."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from router_harness import fake_table, generate, start_router
from switchboard.router.v1 import router_pb2
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.status import field_violations
from switchboard.testing.fake_backend import FakeBackend

R = router_pb2

BREAKER = dict(
    router_breaker_window_size=4,
    router_breaker_minimum_calls=2,
    router_breaker_failure_rate_threshold=50.0,
    router_breaker_wait_in_open_s=10.0,
    router_breaker_max_wait_in_open_s=40.0,
    router_breaker_open_backoff_multiplier=2.0,
    router_breaker_permitted_calls_in_half_open=1,
)


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeBackend]]:
    started = [await FakeBackend(tokens=6).start() for _ in range(2)]
    yield started
    for fb in started:
        await fb.stop()


async def backend_info(router, name: str) -> router_pb2.BackendInfo:
    listed = await router.stub.ListBackends(R.ListBackendsRequest(), timeout=5)
    return next(b for b in listed.backends if b.name == name)


async def test_breaker_opens_skips_then_half_open_probe_closes(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    clock = ManualClock()
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2),
    ], clock=clock, **BREAKER)
    a.set_fault("http_error:500")
    for _ in range(2):
        out = await generate(router.stub, prompt="hi")
        assert out.start.backend == "beta"
    assert len(a.requests) == 2
    info = await backend_info(router, "alpha")
    assert info.breaker_state == R.BREAKER_STATE_OPEN and info.window_calls == 2 and info.success_rate == 0.0

    out = await generate(router.stub, prompt="hi")
    assert len(a.requests) == 2  # not called while open
    skipped = out.done.attempts[0]
    assert skipped.backend == "alpha" and skipped.outcome == R.ATTEMPT_OUTCOME_SKIPPED and "OPEN" in skipped.detail
    assert out.done.interaction_id.endswith(":1")  # skips are not attempts

    clock.advance(9.9)
    await generate(router.stub, prompt="hi")
    assert len(a.requests) == 2
    clock.advance(0.2)  # the open wait has elapsed: one probe may pass
    assert (await backend_info(router, "alpha")).breaker_state == R.BREAKER_STATE_HALF_OPEN
    a.set_fault(None)
    out = await generate(router.stub, prompt="hi")
    assert out.start.backend == "alpha" and len(a.requests) == 3
    assert (await backend_info(router, "alpha")).breaker_state == R.BREAKER_STATE_CLOSED


async def test_failed_probe_reopens_with_a_longer_wait(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    clock = ManualClock()
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2),
    ], clock=clock, **BREAKER)
    a.set_fault("http_error:503")
    for _ in range(2):
        await generate(router.stub, prompt="hi")
    clock.advance(10.0)
    out = await generate(router.stub, prompt="hi")  # the probe fails, the answer still comes from beta
    assert out.start.backend == "beta" and len(a.requests) == 3
    assert out.done.attempts[0].outcome == R.ATTEMPT_OUTCOME_SERVER_ERROR
    assert (await backend_info(router, "alpha")).breaker_state == R.BREAKER_STATE_OPEN
    clock.advance(10.0)  # the wait doubled to 20 s
    assert (await backend_info(router, "alpha")).breaker_state == R.BREAKER_STATE_OPEN
    clock.advance(10.0)
    assert (await backend_info(router, "alpha")).breaker_state == R.BREAKER_STATE_HALF_OPEN


async def test_set_breaker_state_force_open_disable_reset(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2),
    ], **BREAKER)
    reply = await router.stub.SetBreakerState(
        R.SetBreakerStateRequest(backend="alpha", command=R.BREAKER_COMMAND_FORCE_OPEN), timeout=5)
    assert reply.backend.name == "alpha" and reply.backend.breaker_state == R.BREAKER_STATE_FORCED_OPEN
    out = await generate(router.stub, prompt="hi")
    assert out.start.backend == "beta" and len(a.requests) == 0
    assert out.done.attempts[0].outcome == R.ATTEMPT_OUTCOME_SKIPPED

    reply = await router.stub.SetBreakerState(
        R.SetBreakerStateRequest(backend="alpha", command=R.BREAKER_COMMAND_DISABLE), timeout=5)
    assert reply.backend.breaker_state == R.BREAKER_STATE_DISABLED
    a.set_fault("http_error:500")
    for _ in range(4):  # failures no longer trip it
        await generate(router.stub, prompt="hi")
    assert (await backend_info(router, "alpha")).breaker_state == R.BREAKER_STATE_DISABLED
    assert len(a.requests) == 4

    reply = await router.stub.SetBreakerState(
        R.SetBreakerStateRequest(backend="alpha", command=R.BREAKER_COMMAND_RESET), timeout=5)
    assert reply.backend.breaker_state == R.BREAKER_STATE_CLOSED and reply.backend.window_calls == 0


async def test_set_breaker_state_bad_requests(serve, mesh_settings, tmp_path, fakes) -> None:
    a, _ = fakes
    router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", a)])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await router.stub.SetBreakerState(R.SetBreakerStateRequest(backend="nope", command=R.BREAKER_COMMAND_RESET))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND and "alpha" in caught.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await router.stub.SetBreakerState(R.SetBreakerStateRequest(backend=""))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(caught.value)} == {"backend", "command"}


async def test_list_backends_figures(serve, mesh_settings, tmp_path, fakes, monkeypatch) -> None:
    a, b = fakes
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "k")
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("beta", b, kind="anthropic", priority=5, api_key_env="FAKE_ANTHROPIC_KEY",
                   cost_per_1k_prompt_tokens=0.5, cost_per_1k_completion_tokens=1.5),
        fake_table("alpha", a, kind="ollama", priority=1),
    ])
    a.set_fault("http_error:500", times=1)
    for _ in range(4):
        await generate(router.stub, prompt="hello there")
    listed = await router.stub.ListBackends(R.ListBackendsRequest(), timeout=5)
    assert [x.name for x in listed.backends] == ["alpha", "beta"]  # priority order
    alpha, beta = listed.backends
    assert (alpha.kind, alpha.model, alpha.base_url, alpha.priority, alpha.mock) == (
        R.BACKEND_KIND_OLLAMA, "alpha-model", a.url, 1, False)
    assert beta.kind == R.BACKEND_KIND_ANTHROPIC and beta.cost_per_1k_completion_tokens == 1.5
    assert alpha.window_calls == 4 and alpha.success_rate == pytest.approx(0.75)
    assert beta.window_calls == 1 and beta.success_rate == 1.0
    assert alpha.in_flight == 0 and alpha.supports_continuation
    assert alpha.health == R.BACKEND_HEALTH_UNSPECIFIED  # no monitor
    for p in (alpha.total_time, alpha.time_to_first_token):
        assert p.p50.ToTimedelta() <= p.p95.ToTimedelta() <= p.p99.ToTimedelta()
        assert p.p99.ToTimedelta().total_seconds() > 0
    assert alpha.breaker_state == R.BREAKER_STATE_CLOSED and alpha.HasField("breaker_since")


async def test_cost_is_estimated_from_configured_prices(serve, mesh_settings, tmp_path, fakes) -> None:
    a, _ = fakes
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, cost_per_1k_prompt_tokens=1.0, cost_per_1k_completion_tokens=2.0),
    ])
    out = await generate(router.stub, prompt="one two three")
    usage = out.done.usage
    assert out.done.cost_usd == pytest.approx((usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1000)


async def test_cancellation_closes_the_upstream_and_is_not_a_failure(serve, mesh_settings, tmp_path) -> None:
    async with FakeBackend(tokens=50, token_delay_s=0.1) as slow:
        router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", slow)], **BREAKER)
        call = router.stub.Generate(R.GenerateRequest(prompt="long one"), timeout=20)
        seen = []
        async for event in call:
            seen.append(event.WhichOneof("event"))
            if seen.count("token") == 2:
                break
        call.cancel()
        upstream = await slow.requests[-1].wait_ended(5)
        assert upstream.disconnected and not upstream.completed and upstream.tokens_sent < 50
        for _ in range(50):  # the router notices the cancellation on its own schedule
            info = await backend_info(router, "alpha")
            if info.in_flight == 0:
                break
            await asyncio.sleep(0.02)
        assert info.in_flight == 0 and info.window_calls == 0  # ignored by the breaker
        assert info.breaker_state == R.BREAKER_STATE_CLOSED


async def test_deadline_bounds_the_attempts_with_an_error_event(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    a.set_fault("stall:0")
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1, first_token_s=30.0), fake_table("beta", b, priority=2),
    ], router_deadline_margin_s=0.25)  # room for the error event on a loaded machine
    loop = asyncio.get_running_loop()
    began = loop.time()
    out = await generate(router.stub, prompt="hi", timeout=0.6)
    assert loop.time() - began < 5
    assert out.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert out.kinds == ["error"] and out.error.code == "DEADLINE_EXCEEDED"
    assert out.error.attempts[0].outcome == R.ATTEMPT_OUTCOME_TIMEOUT
    upstream = await a.requests[-1].wait_ended(5)
    assert upstream.disconnected  # the stalled upstream call was closed
    assert len(b.requests) == 0
    info = await backend_info(router, "alpha")
    assert info.window_calls == 0  # the caller's deadline is not the backend's failure


async def test_deadline_bounds_the_sum_of_attempts_not_each_one(serve, mesh_settings, tmp_path, fakes) -> None:
    # alpha fails on its own first-token timeout (0.4 s); beta would wait 30 s
    # for its first token, but only the caller's remaining time is given to it.
    a, b = fakes
    a.set_fault("stall:0")
    b.set_fault("stall:0")
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1, first_token_s=0.4), fake_table("beta", b, priority=2, first_token_s=30.0),
    ], router_deadline_margin_s=0.3)  # room for the error event on a loaded machine
    loop = asyncio.get_running_loop()
    began = loop.time()
    out = await generate(router.stub, prompt="hi", timeout=1.2)
    assert loop.time() - began < 5
    assert out.code == grpc.StatusCode.DEADLINE_EXCEEDED and out.kinds == ["error"]
    assert [(x.backend, x.outcome) for x in out.error.attempts] == [
        ("alpha", R.ATTEMPT_OUTCOME_TIMEOUT), ("beta", R.ATTEMPT_OUTCOME_TIMEOUT)]
    assert "first token" in out.error.attempts[0].detail
    assert "caller's deadline" in out.error.attempts[1].detail
    assert (await b.requests[-1].wait_ended(5)).disconnected
    # alpha's own timeout is its failure; the caller's deadline is not beta's.
    assert (await backend_info(router, "alpha")).window_calls == 1
    assert (await backend_info(router, "beta")).window_calls == 0


async def test_deadline_after_tokens_reports_what_was_sent(serve, mesh_settings, tmp_path) -> None:
    async with FakeBackend(tokens=40, token_delay_s=0.1) as slow:
        router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", slow)],
                                    router_deadline_margin_s=0.25)
        out = await generate(router.stub, prompt="hi", timeout=0.8)
        assert out.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert out.kinds[0] == "start" and out.kinds[-1] == "error"
        assert out.error.chars_sent == len(out.text) > 0


BAD = [
    (dict(), "messages"),
    (dict(prompt="   "), "prompt"),
    (dict(messages=[R.ChatMessage(role=R.ROLE_UNSPECIFIED, content="x")]), "messages[0].role"),
    (dict(messages=[R.ChatMessage(role=9, content="x")]), "messages[0].role"),
    (dict(messages=[R.ChatMessage(role=R.ROLE_USER, content="ok"), R.ChatMessage(role=R.ROLE_USER, content="")]),
     "messages[1].content"),
    (dict(prompt="x" * 501), "prompt"),
    (dict(prompt="p", max_tokens=1001), "max_tokens"),
    (dict(prompt="p", temperature=2.5), "temperature"),
    (dict(prompt="p", temperature=-1.0), "temperature"),
    (dict(prompt="p", pinned_backend="nope"), "pinned_backend"),
]


@pytest.mark.parametrize(("fields", "where"), BAD)
async def test_bad_input_is_invalid_argument_with_field_violations(serve, mesh_settings, tmp_path, fakes, fields, where) -> None:
    a, _ = fakes
    router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", a)],
                                router_max_prompt_chars=500, router_max_tokens_limit=1000)
    out = await generate(router.stub, **fields)
    assert out.code == grpc.StatusCode.INVALID_ARGUMENT and out.events == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await router.stub.Complete(R.CompleteRequest(**fields), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert where in {v.field for v in field_violations(caught.value)}
    assert len(a.requests) == 0
