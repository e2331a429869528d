"""The router with its peers, all real gRPC servers: learning (a small
in-memory LearningService, router_harness.MemoryLearning), the cache service,
and monitors with a fixed view or answering UNIMPLEMENTED (the real monitor is
in test_router_real_monitor.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import duration_pb2

from router_harness import MemoryLearning, eventually, fake_table, generate, serve_learning, start_router
from switchboard.cache_key import CacheKeyInput, cache_key
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.learning.v1 import learning_pb2 as L
from switchboard.monitor.v1 import monitor_pb2 as M
from switchboard.monitor.v1 import monitor_pb2_grpc
from switchboard.router.v1 import router_pb2
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.tenant import TENANT_METADATA
from switchboard.testing.fake_backend import FakeBackend
from switchboard.testing.tcp_proxy import TcpProxy, Toxic

R = router_pb2


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeBackend]]:
    started = [await FakeBackend(tokens=6).start() for _ in range(2)]
    yield started
    for fb in started:
        await fb.stop()


def two(a: FakeBackend, b: FakeBackend) -> list[dict]:
    return [fake_table("alpha", a, priority=1), fake_table("beta", b, priority=2)]


# -- learning -------------------------------------------------------------------------


async def test_every_attempt_is_recorded_with_its_interaction_id(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    memory = MemoryLearning()
    learning = await serve_learning(serve, memory)
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), learning=learning.address)
    a.set_fault("http_error:502", times=1)
    out = await generate(router.stub, prompt="Write a python function", user_id="ann", request_id="r1")
    assert out.done.interaction_id == "r1:2"
    await eventually(lambda: len(memory.interactions) == 2, what="two records")
    first, second = memory.interactions["r1:1"], memory.interactions["r1:2"]
    assert (first.backend, first.outcome, first.attempt, first.fallback) == ("alpha", L.OUTCOME_SERVER_ERROR, 1, False)
    assert "502" in first.error_detail and not first.HasField("time_to_first_token")
    assert (second.backend, second.outcome, second.attempt, second.fallback) == ("beta", L.OUTCOME_SUCCESS, 2, True)
    assert second.HasField("time_to_first_token") and second.completion_tokens == 6
    for record in (first, second):
        assert (record.request_id, record.user_id, record.topic) == ("r1", "ann", "code")
        assert record.model == f"{record.backend}-model"
        assert len(record.prompt_fingerprint) == 64 and record.prompt_chars == len("Write a python function")


async def test_learning_down_then_back_loses_nothing(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    memory = MemoryLearning()
    learning = await serve_learning(serve, memory)
    async with TcpProxy("127.0.0.1", learning.port) as proxy:
        await proxy.down()
        router = await start_router(serve, mesh_settings, tmp_path, two(a, b), learning=proxy.address,
                                    router_outcome_retry_initial_s=0.05, router_outcome_retry_max_s=0.25)
        a.set_fault("http_error:500", times=1)
        for n in range(3):
            out = await generate(router.stub, prompt=f"question {n}", request_id=f"q{n}")
            assert out.code == grpc.StatusCode.OK  # learning being down never reaches the caller
            assert out.start.degraded and "learning" in out.start.degraded_reason
        queue = router.app.outcomes
        await eventually(lambda: queue.figures().failures >= 2, what="failed sends")
        assert memory.interactions == {} and queue.figures().pending == 4
        await proxy.up()
        await eventually(lambda: len(memory.interactions) == 4, timeout=20, what="the queued outcomes")
        assert sorted(memory.interactions) == ["q0:1", "q0:2", "q1:1", "q2:1"]
        assert queue.figures().dropped == 0 and queue.figures().pending == 0


async def test_recommendation_orders_the_backends(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    memory = MemoryLearning(order=["beta", "alpha"])
    learning = await serve_learning(serve, memory)
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), learning=learning.address,
                                router_recommend_deadline_s=2.0)
    out = await generate(router.stub, prompt="What is 2 + 2?", user_id="bob")
    assert out.start.backend == "beta" and "recommended by learning" in out.start.routing_reason
    asked = memory.recommend_requests[-1]
    assert (asked.user_id, asked.topic, sorted(asked.candidate_backends)) == ("bob", "math", ["alpha", "beta"])
    # A pinned request asks nobody.
    await generate(router.stub, prompt="hi", pinned_backend="alpha")
    assert len(memory.recommend_requests) == 1


async def test_learnings_draws_are_spent_one_per_request(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    memory = MemoryLearning(order=["beta", "alpha"])
    learning = await serve_learning(serve, memory)
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), learning=learning.address,
                                router_recommend_deadline_s=2.0)
    acme = ((TENANT_METADATA, "acme"),)
    for n in range(10):
        out = await generate(router.stub, prompt=f"What is {n} + 2?", user_id="bob", metadata=acme)
        assert out.start.backend == "beta" and "recommended by learning" in out.start.routing_reason
    assert 1 <= len(memory.recommend_requests) < 10  # one call serves several requests
    assert all(r.draws >= 1 for r in memory.recommend_requests)
    assert set(memory.recommend_tenants) == {"acme"}  # learning ranks on the caller's tenant's evidence


async def test_a_learning_without_draws_still_orders_every_request(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    memory = MemoryLearning(order=["beta", "alpha"], draws=False)  # answers `ranked` only
    learning = await serve_learning(serve, memory)
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), learning=learning.address,
                                router_recommend_deadline_s=2.0)
    for n in range(4):
        out = await generate(router.stub, prompt=f"What is {n} + 2?", user_id="bob")
        assert out.start.backend == "beta" and "recommended by learning" in out.start.routing_reason
    assert 4 <= len(memory.recommend_requests) <= 8  # one ranking per call: asked about once per request


async def test_draws_off_asks_learning_on_every_request(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    memory = MemoryLearning(order=["beta", "alpha"])
    learning = await serve_learning(serve, memory)
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), learning=learning.address,
                                router_recommend_deadline_s=2.0, router_recommend_draws=0)
    for n in range(3):
        out = await generate(router.stub, prompt=f"What is {n} + 2?", user_id="bob")
        assert out.start.backend == "beta"
    assert [r.draws for r in memory.recommend_requests] == [0, 0, 0]


async def test_slow_learning_means_static_order_and_says_so(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    memory = MemoryLearning(order=["beta", "alpha"], delay_s=0.5)
    learning = await serve_learning(serve, memory)
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), learning=learning.address,
                                router_recommend_deadline_s=0.05)
    loop = asyncio.get_running_loop()
    began = loop.time()
    out = await generate(router.stub, prompt="hi")
    assert loop.time() - began < 0.45  # did not wait for the slow recommendation
    assert out.start.backend == "alpha" and out.start.routing_reason == "static priority order"
    assert out.start.degraded and "no recommendation within 50 ms" in out.start.degraded_reason


async def test_cancelled_attempt_is_recorded_as_cancelled(serve, mesh_settings, tmp_path) -> None:
    memory = MemoryLearning()
    learning = await serve_learning(serve, memory)
    async with FakeBackend(tokens=50, token_delay_s=0.1) as slow:
        router = await start_router(serve, mesh_settings, tmp_path, [fake_table("alpha", slow)],
                                    learning=learning.address)
        call = router.stub.Generate(R.GenerateRequest(prompt="long", request_id="c1"), timeout=20)
        async for event in call:
            if event.WhichOneof("event") == "token":
                break
        call.cancel()
        await eventually(lambda: "c1:1" in memory.interactions, what="the cancelled attempt")
        assert memory.interactions["c1:1"].outcome == L.OUTCOME_CANCELLED


# -- cache ------------------------------------------------------------------------------


async def test_cache_miss_then_hit(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    cache = await serve("cache")
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), cache=cache.address)
    first = await generate(router.stub, prompt="Capital of France?", temperature=0.0)
    assert not first.start.cache_hit and first.start.backend == "alpha"
    await router.app.cache.drain()
    second = await generate(router.stub, prompt="Capital of France?", temperature=0.0)
    assert second.code == grpc.StatusCode.OK
    second.assert_well_formed()
    assert second.start.cache_hit and second.start.backend == "alpha" and second.start.model == "alpha-model"
    assert second.text == first.text and len(a.requests) == 1
    assert second.done.finish_reason == R.FINISH_REASON_STOP and not second.done.degraded
    assert list(second.done.attempts) == []
    # Not deterministic: the cache is not consulted.
    third = await generate(router.stub, prompt="Capital of France?", temperature=0.8)
    assert not third.start.cache_hit and len(a.requests) == 2
    # Bypass wins over temperature 0.
    fourth = await generate(router.stub, prompt="Capital of France?", temperature=0.0,
                            cache_policy=R.CACHE_POLICY_BYPASS)
    assert not fourth.start.cache_hit and len(a.requests) == 3


async def test_cache_uses_the_shared_key_function(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    cache = await serve("cache")
    stub = cache_pb2_grpc.CacheServiceStub(cache.channel)
    key = cache_key(CacheKeyInput(prompt="Planted?", temperature=0.0))
    await stub.Store(cache_pb2.StoreRequest(key=key, value="Planted answer.".encode(),
                                            metadata=cache_pb2.EntryMetadata(backend="beta", model="beta-model")))
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), cache=cache.address)
    out = await generate(router.stub, prompt="Planted?", temperature=0.0)
    assert out.start.cache_hit and out.text == "Planted answer." and out.start.backend == "beta"
    assert len(a.requests) == len(b.requests) == 0


async def test_cache_down_carries_on_uncached_and_says_so(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b))  # cache at a closed port
    out = await generate(router.stub, prompt="Capital of France?", temperature=0.0)
    assert out.code == grpc.StatusCode.OK and out.start.backend == "alpha" and not out.start.cache_hit
    assert out.start.degraded and "cache" in out.start.degraded_reason


async def test_slow_cache_is_not_waited_for(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    cache = await serve("cache")
    async with TcpProxy("127.0.0.1", cache.port) as proxy:
        router = await start_router(serve, mesh_settings, tmp_path, two(a, b), cache=proxy.address,
                                    router_cache_lookup_deadline_s=0.05)
        warm = await generate(router.stub, prompt="Capital of Spain?", temperature=0.0)  # connects, stores
        await router.app.cache.drain()
        assert not warm.start.cache_hit
        proxy.add_toxic(Toxic.latency(1.0))  # every answer from the cache now comes a second late
        loop = asyncio.get_running_loop()
        began = loop.time()
        out = await generate(router.stub, prompt="Capital of Spain?", temperature=0.0)
        assert loop.time() - began < 0.9  # did not wait for the (cached!) answer
        assert out.code == grpc.StatusCode.OK and not out.start.cache_hit and out.start.backend == "alpha"
        assert out.start.degraded and "cache: no answer within 50 ms; uncached" in out.start.degraded_reason
        assert len(a.requests) == 2
        proxy.clear_toxics()  # the answer was there all along (once the delayed bytes have passed)
        for _ in range(50):
            again = await generate(router.stub, prompt="Capital of Spain?", temperature=0.0)
            if again.start.cache_hit:
                break
            await asyncio.sleep(0.1)
        assert again.start.cache_hit


async def test_offline_answer_from_cache_when_every_backend_is_out(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    cache = await serve("cache")
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), cache=cache.address)
    stored = await generate(router.stub, prompt="Tell me a story", temperature=0.7, cache_policy=R.CACHE_POLICY_PREFER)
    await router.app.cache.drain()
    a.set_fault("http_error:500")
    b.set_fault("http_error:500")
    out = await generate(router.stub, prompt="Tell me a story", temperature=0.7)  # not deterministic: no lookup first
    assert out.code == grpc.StatusCode.OK
    out.assert_well_formed()
    assert out.start.cache_hit and out.text == stored.text
    assert out.done.degraded and "served from cache" in out.done.degraded_reason
    assert [x.outcome for x in out.done.attempts] == [R.ATTEMPT_OUTCOME_SERVER_ERROR] * 2
    # Nothing cached for this one: the degraded text.
    out = await generate(router.stub, prompt="Something else", temperature=0.7)
    assert out.done.finish_reason == R.FINISH_REASON_DEGRADED and out.start.backend == "offline"


# -- monitor ------------------------------------------------------------------------------


class FixedMonitor(monitor_pb2_grpc.MonitorServiceServicer):
    def __init__(self, view: dict[str, int], stale_after_s: float = 0.0) -> None:
        self.view = view
        self.stale_after_s = stale_after_s

    async def WatchBackendHealth(self, request, context):  # noqa: N802
        message = M.WatchBackendHealthResponse(
            backends=[M.BackendHealth(backend=n, status=s) for n, s in sorted(self.view.items())])
        if self.stale_after_s:
            message.stale_after.CopyFrom(duration_pb2.Duration(seconds=int(self.stale_after_s)))
        yield message
        await asyncio.Event().wait()  # until the router goes away


async def serve_monitor(serve, servicer: FixedMonitor):
    app = GrpcApp(
        service_names=[M.DESCRIPTOR.services_by_name["MonitorService"].full_name],
        servicers=[(monitor_pb2_grpc.add_MonitorServiceServicer_to_server, servicer)],
    )
    return await serve("monitor", app=app)


async def health_of(router, name: str) -> int:
    listed = await router.stub.ListBackends(R.ListBackendsRequest(), timeout=5)
    return next(x.health for x in listed.backends if x.name == name)


async def test_monitor_unhealthy_backend_is_skipped(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    monitor = await serve_monitor(serve, FixedMonitor({"alpha": M.TARGET_STATUS_UNREACHABLE,
                                                       "beta": M.TARGET_STATUS_HEALTHY}))
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), monitor=monitor.address)
    for _ in range(100):
        if await health_of(router, "alpha") == R.BACKEND_HEALTH_UNHEALTHY:
            break
        await asyncio.sleep(0.02)
    assert await health_of(router, "alpha") == R.BACKEND_HEALTH_UNHEALTHY
    assert await health_of(router, "beta") == R.BACKEND_HEALTH_HEALTHY
    out = await generate(router.stub, prompt="hi")
    assert out.start.backend == "beta" and len(a.requests) == 0
    assert out.done.attempts[0].outcome == R.ATTEMPT_OUTCOME_SKIPPED
    assert out.done.attempts[0].detail == "monitor reports unhealthy"


async def test_stale_monitor_view_is_ignored(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    clock = ManualClock()
    monitor = await serve_monitor(serve, FixedMonitor({"alpha": M.TARGET_STATUS_UNHEALTHY}, stale_after_s=5))
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), monitor=monitor.address, clock=clock)
    for _ in range(100):
        if await health_of(router, "alpha") == R.BACKEND_HEALTH_UNHEALTHY:
            break
        await asyncio.sleep(0.02)
    assert await health_of(router, "alpha") == R.BACKEND_HEALTH_UNHEALTHY
    clock.advance(6)
    assert await health_of(router, "alpha") == R.BACKEND_HEALTH_UNSPECIFIED
    out = await generate(router.stub, prompt="hi")
    assert out.start.backend == "alpha"


async def test_unimplemented_monitor_means_no_health_info(serve, mesh_settings, tmp_path, fakes) -> None:
    a, b = fakes
    # A monitor that answers UNIMPLEMENTED (an older or partial deployment).
    monitor = await serve("monitor", app=GrpcApp(
        service_names=["switchboard.monitor.v1.MonitorService"],
        servicers=[(monitor_pb2_grpc.add_MonitorServiceServicer_to_server, monitor_pb2_grpc.MonitorServiceServicer())],
    ))
    router = await start_router(serve, mesh_settings, tmp_path, two(a, b), monitor=monitor.address)
    await eventually(lambda: "UNIMPLEMENTED" in router.app.health.last_problem, what="the monitor's answer")
    assert await health_of(router, "alpha") == R.BACKEND_HEALTH_UNSPECIFIED
    out = await generate(router.stub, prompt="hi")
    assert out.code == grpc.StatusCode.OK and out.start.backend == "alpha"
