"""Generate and Complete through a real router against real fake-backend
servers: the happy path, every fallback before the first token, continuation
after tokens, the explicit error when nothing can continue, and the offline
last resort."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from router_harness import fake_table, generate, start_router
from switchboard.router.v1 import router_pb2
from switchboard.testing.fake_backend import FakeBackend, fake_answer

R = router_pb2


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeBackend]]:
    started = [await FakeBackend(tokens=12).start() for _ in range(3)]
    yield started
    for fb in started:
        await fb.stop()


def answer_to(prompt: str) -> str:
    return fake_answer([("user", prompt)], tokens=12)


async def test_streams_the_answer_from_the_first_backend(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b, _ = fakes
    router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", a, priority=1),
                                                                  fake_table("beta", b, priority=2)])
    out = await generate(router.stub, prompt="Say something", user_id="u1", request_id="req-1")
    assert out.code == grpc.StatusCode.OK
    out.assert_well_formed()
    start = out.start
    assert (start.backend, start.model, start.request_id) == ("alpha", "alpha-model", "req-1")
    assert start.topic == "quick_question" and start.topic_classified and not start.cache_hit and not start.mock
    assert start.routing_reason == "static priority order"
    assert out.text == answer_to("Say something")
    done = out.done
    assert done.finish_reason == R.FINISH_REASON_STOP and done.backend == "alpha"
    assert [(x.backend, x.outcome) for x in done.attempts] == [("alpha", R.ATTEMPT_OUTCOME_SUCCESS)]
    assert done.usage.completion_tokens == 12 and done.usage.prompt_tokens == 2 and not done.usage.estimated
    assert done.interaction_id == "req-1:1"
    total, upstream, overhead = (d.ToTimedelta() for d in (done.total_time, done.upstream_time, done.overhead))
    assert overhead == total - upstream or abs((total - upstream - overhead).total_seconds()) < 1e-5
    assert upstream <= total
    assert len(b.requests) == 0


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        ("http_error:500", R.ATTEMPT_OUTCOME_SERVER_ERROR),
        ("http_error:503", R.ATTEMPT_OUTCOME_SERVER_ERROR),
        ("rate_limit:1", R.ATTEMPT_OUTCOME_RATE_LIMITED),
        ("http_error:401", R.ATTEMPT_OUTCOME_CLIENT_ERROR),
        ("reset_before_first_token", R.ATTEMPT_OUTCOME_CONNECTION_ERROR),
        ("stall:0", R.ATTEMPT_OUTCOME_TIMEOUT),
        ("malformed:0", R.ATTEMPT_OUTCOME_MALFORMED_STREAM),
    ],
)
async def test_failure_before_first_token_falls_back_invisibly(serve, mesh_settings, tmp_path, fakes, fault, outcome) -> None:
    a, b, _ = fakes
    a.set_fault(fault)
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1, first_token_s=0.5),
        fake_table("beta", b, priority=2),
    ])
    out = await generate(router.stub, prompt="Hello there")
    assert out.code == grpc.StatusCode.OK
    out.assert_well_formed()
    assert out.kinds.count("error") == 0 and out.kinds.count("backend_switch") == 0
    assert out.start.backend == "beta" and "after 1 failed attempt" in out.start.routing_reason
    assert out.text == answer_to("Hello there")
    attempts = out.done.attempts
    assert [(x.backend, x.outcome) for x in attempts] == [("alpha", outcome), ("beta", R.ATTEMPT_OUTCOME_SUCCESS)]
    assert attempts[0].detail and not attempts[0].HasField("time_to_first_token")
    assert out.done.interaction_id.endswith(":2")
    if fault == "stall:0":  # the stalled upstream stream was closed, not left hanging
        await a.requests[-1].wait_ended()
        assert a.requests[-1].disconnected


async def test_connection_refused_falls_back(serve, mesh_settings, tmp_path, fakes) -> None:
    _, b, _ = fakes
    router = await start_router(serve, mesh_settings, tmp_path, [
        {"name": "gone", "kind": "openai", "base_url": "http://127.0.0.1:1", "model": "m", "priority": 1},
        fake_table("beta", b, priority=2),
    ])
    out = await generate(router.stub, prompt="Hello")
    assert out.code == grpc.StatusCode.OK and out.start.backend == "beta"
    assert out.done.attempts[0].outcome == R.ATTEMPT_OUTCOME_CONNECTION_ERROR


@pytest.mark.parametrize("wire", ["openai", "ollama", "anthropic"])
@pytest.mark.parametrize("fault", ["reset_after:3", "malformed:3", "stall:3"])
async def test_failure_after_tokens_continues_on_next_backend(
    serve, mesh_settings, tmp_path, fakes, wire, fault, monkeypatch
) -> None:
    a, b, _ = fakes
    a.set_fault(fault)
    monkeypatch.setenv("FAKE_KEY", "k")
    extra = {"api_key_env": "FAKE_KEY"} if wire == "anthropic" else {}
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, kind=wire, priority=1, between_tokens_s=0.5, **extra),
        fake_table("beta", b, kind=wire, priority=2, **extra),
    ])
    prompt = "Tell me about rivers and stones"
    out = await generate(router.stub, prompt=prompt)
    assert out.code == grpc.StatusCode.OK, out.details
    out.assert_well_formed()
    # Tokens that arrive together may travel as one TokenEvent: compare text, not messages.
    kinds = out.kinds
    cut = kinds.index("backend_switch")
    assert kinds[0] == "start" and set(kinds[1:cut]) == {"token"} and kinds.count("backend_switch") == 1
    switch = out.of("backend_switch")[0]
    before = "".join(e.token.text for e in out.events[1:cut])
    assert len(before.split()) == 3 and {e.token.backend for e in out.events[1:cut]} == {"alpha"}
    assert (switch.from_backend, switch.to_backend, switch.continuation) == ("alpha", "beta", True)
    assert switch.chars_before_switch == len(before) and switch.reason
    assert b.requests[-1].assistant_prefix == before  # continued from the text already sent
    assert out.text == answer_to(prompt)  # nothing lost, nothing repeated
    assert {e.token.backend for e in out.events[cut:] if e.WhichOneof("event") == "token"} == {"beta"}
    assert out.done.backend == "beta"
    assert [x.outcome == R.ATTEMPT_OUTCOME_SUCCESS for x in out.done.attempts] == [False, True]
    assert out.done.attempts[0].completion_tokens == 3


async def test_no_backend_can_continue_ends_with_error_event_and_status(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b, _ = fakes
    a.set_fault("reset_after:3")
    b.set_fault("http_error:500")
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2),
    ])
    out = await generate(router.stub, prompt="Tell me about rivers")
    assert out.code == grpc.StatusCode.UNAVAILABLE
    out.assert_well_formed()
    kinds = out.kinds
    assert kinds[0] == "start" and set(kinds[1:-1]) == {"token"} and kinds[-1] == "error"
    assert len(out.text.split()) == 3
    error = out.error
    assert error.code == "UNAVAILABLE" and error.chars_sent == len(out.text) > 0
    assert "cut off" in error.message and out.details == error.message
    assert [x.backend for x in error.attempts] == ["alpha", "beta"]


async def test_single_backend_mid_stream_failure_is_never_silent(serve, mesh_settings, tmp_path, fakes) -> None:
    a, _, _ = fakes
    a.set_fault("reset_after:2")
    router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", a)])
    out = await generate(router.stub, prompt="Hi")
    assert out.code == grpc.StatusCode.UNAVAILABLE and out.kinds[-1] == "error"
    assert out.error.chars_sent == len(out.text)


async def test_every_backend_out_gives_the_degraded_answer(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b, _ = fakes
    a.set_fault("http_error:500")
    b.set_fault("reset_before_first_token")
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2),
    ], router_degraded_text="Offline right now.")
    out = await generate(router.stub, prompt="Hello")
    assert out.code == grpc.StatusCode.OK
    out.assert_well_formed()
    assert out.start.backend == "offline" and out.text == "Offline right now."
    done = out.done
    assert done.finish_reason == R.FINISH_REASON_DEGRADED and done.degraded
    assert "alpha" in done.degraded_reason and "beta" in done.degraded_reason
    assert len(done.attempts) == 2


async def test_pinned_backend_is_the_only_one_tried(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b, _ = fakes
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2),
    ])
    out = await generate(router.stub, prompt="Hi", pinned_backend="beta")
    assert out.start.backend == "beta" and out.start.routing_reason == "pinned by the caller"
    b.set_fault("http_error:500")
    out = await generate(router.stub, prompt="Hi", pinned_backend="beta")
    assert out.code == grpc.StatusCode.UNAVAILABLE and out.kinds == ["error"]
    assert "pinned backend beta" in out.error.message
    assert len(a.requests) == 0


async def test_complete_returns_the_whole_answer_with_switches(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b, _ = fakes
    router = await start_router(serve, mesh_settings, tmp_path, [
        fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2),
    ])
    reply = await router.stub.Complete(R.CompleteRequest(prompt="Write a poem about rivers", request_id="c1"), timeout=20)
    assert reply.text == answer_to("Write a poem about rivers") and reply.backend == "alpha"
    assert reply.topic == "creative" and reply.request_id == "c1" and reply.done.finish_reason == R.FINISH_REASON_STOP
    a.set_fault("reset_after:2")
    reply = await router.stub.Complete(R.CompleteRequest(prompt="Write a poem about rivers"), timeout=20)
    assert reply.text == answer_to("Write a poem about rivers") and reply.backend == "beta"
    assert [(s.from_backend, s.to_backend, s.continuation) for s in reply.switches] == [("alpha", "beta", True)]
    b.set_fault("http_error:500")
    a.set_fault("reset_after:2")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await router.stub.Complete(R.CompleteRequest(prompt="Write a poem about rivers"), timeout=20)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_default_without_backends_is_the_labelled_mock(serve, mesh_settings, tmp_path) -> None:
    router = await start_router(serve, mesh_settings, tmp_path, None)
    listed = await router.stub.ListBackends(R.ListBackendsRequest(), timeout=5)
    assert [(b.name, b.kind, b.mock) for b in listed.backends] == [("mock", R.BACKEND_KIND_MOCK, True)]
    out = await generate(router.stub, prompt="Hello mock")
    assert out.code == grpc.StatusCode.OK and out.start.mock and out.start.backend == "mock"
    assert "mock" in out.text
