"""Load shedding: while a service's event loop runs behind, new calls are refused
at once (gRPC RESOURCE_EXHAUSTED, HTTP 503 + Retry-After) naming the lag, health
still answers, calls already admitted finish, and admission resumes by itself.

The servers here really lag: a hog blocks the shared event loop, as CPU-bound
work would, and the real probe measures it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.gateway.settings import GatewaySettings
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.overload import LagEstimate, LoopLagProbe
from switchboard.runtime.server import GrpcApp, Runtime
from switchboard.runtime.settings import MeshSettings

ROUTER = "switchboard.router.v1.RouterService"


def test_sustained_lag_is_overload_and_one_stall_is_not() -> None:
    load = LagEstimate(threshold_s=0.1, window=5)
    for _ in range(5):
        load.observe(0.002)
    load.observe(2.0)  # one long stall (GC, a paused VM, SIGSTOP then SIGCONT)
    assert not load.overloaded and load.lag_s == pytest.approx(0.002)
    load.observe(0.2)
    load.observe(0.25)  # now most recent samples lag
    assert load.overloaded and load.lag_s == pytest.approx(0.2)
    for _ in range(3):  # three prompt wake-ups: most samples are fine again
        load.observe(0.001)
    assert not load.overloaded
    load.observe(-0.01)  # a timer firing early is no lag, not negative lag
    assert load.lag_s >= 0


def test_the_refusal_says_why_and_is_counted() -> None:
    load = LagEstimate(threshold_s=0.1)
    for _ in range(3):
        load.observe(0.3)
    message = load.refusal()
    assert "overloaded" in message and "300 ms behind" in message and "limit 100 ms" in message
    assert load.shed == 1


def test_a_zero_threshold_never_sheds() -> None:
    load = LagEstimate(threshold_s=0.0)
    for _ in range(5):
        load.observe(10.0)
    assert not load.overloaded


async def test_the_probe_reports_the_lag_also_when_shedding_is_off() -> None:
    samples: list[float] = []
    probe = LoopLagProbe(LagEstimate(threshold_s=0.0), interval_s=0.01, on_sample=samples.append)
    probe.start()
    await asyncio.sleep(0.05)
    async with hogged_loop(0.15):  # sustained stalls
        await asyncio.sleep(1.0)
    await probe.stop()
    assert samples and max(samples) > 0.1  # the stalls show in the reported lag
    assert not probe.estimate.overloaded  # but nothing is refused


@contextlib.asynccontextmanager
async def hogged_loop(block_s: float = 0.15) -> AsyncIterator[None]:
    """Blocks the event loop `block_s` at a time, with a yield in between, until the block ends."""
    done = asyncio.Event()

    async def hog() -> None:
        while not done.is_set():
            time.sleep(block_s)  # noqa: ASYNC251  (blocking the loop is the point)
            await asyncio.sleep(0)

    task = asyncio.create_task(hog())
    try:
        yield
    finally:
        done.set()
        await task


async def _until(predicate: Any, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


class _Router(router_pb2_grpc.RouterServiceServicer):
    async def Generate(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        for i in range(request.max_tokens):
            await asyncio.sleep(0.05)
            yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text=f"t{i + 1}"))

    async def ListBackends(self, request: Any, context: Any) -> Any:  # noqa: N802
        return router_pb2.ListBackendsResponse()


def _router_app() -> GrpcApp:
    return GrpcApp(service_names=[ROUTER], servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, _Router())])


async def test_a_lagging_grpc_server_refuses_new_calls_and_finishes_admitted_ones(serve: Any, tmp_path: Path) -> None:
    settings = MeshSettings(data_dir=tmp_path, overload_loop_lag_s=0.1, log_format="text")
    running = await serve("router", settings=settings, app=_router_app(), shed=True)
    router = router_pb2_grpc.RouterServiceStub(running.channel)
    health = health_pb2_grpc.HealthStub(running.channel)
    await router.ListBackends(router_pb2.ListBackendsRequest(), timeout=5)  # admitted while idle

    stream = router.Generate(router_pb2.GenerateRequest(prompt="hi", max_tokens=8), timeout=60)
    assert (await stream.read()).token.text == "t1"
    async with hogged_loop():
        await _until(lambda: running.runtime.load.overloaded, within_s=10)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await router.ListBackends(router_pb2.ListBackendsRequest(), timeout=30)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "event loop is" in (refused.value.details() or "")
        reply = await health.Check(health_pb2.HealthCheckRequest(service=ROUTER), timeout=30)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING  # health is never shed
    texts = []
    while (event := await stream.read()) is not grpc.aio.EOF:
        texts.append(event.token.text)
    assert texts == [f"t{i}" for i in range(2, 9)]  # the admitted stream ran to its end
    assert await stream.code() == grpc.StatusCode.OK

    await _until(lambda: not running.runtime.load.overloaded, within_s=10)
    await router.ListBackends(router_pb2.ListBackendsRequest(), timeout=5)
    assert running.runtime.load.shed >= 1


async def test_a_lagging_gateway_answers_503_with_retry_after(serve: Any, tmp_path: Path) -> None:
    router = await serve("router", app=_router_app())
    gateway = await serve("gateway", settings=GatewaySettings(
        data_dir=tmp_path, router_address=router.address, overload_loop_lag_s=0.1, shutdown_grace_s=1), shed=True)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", timeout=30) as http:
        assert (await http.get("/v1/models")).status_code == 200
        async with hogged_loop():
            await _until(lambda: gateway.runtime.load.overloaded, within_s=10)
            refused = await http.get("/v1/models")
            rest_refused = await http.get("/v1/router/backends")
            probe = await http.get("/healthz")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "server_overloaded"
        assert "event loop is" in refused.json()["error"]["message"]
        assert rest_refused.status_code == 503 and rest_refused.json()["error"]["status"] == "UNAVAILABLE"
        assert probe.status_code == 200  # probes are never shed
        await _until(lambda: not gateway.runtime.load.overloaded, within_s=10)
        assert (await http.get("/v1/models")).status_code == 200


async def test_in_process_test_servers_do_not_shed_unless_asked(serve: Any, tmp_path: Path) -> None:
    plain = await serve("router", settings=MeshSettings(data_dir=tmp_path), app=_router_app())
    dumped = {**MeshSettings(data_dir=tmp_path).model_dump(), "router_address": plain.address}
    widened = await serve("gateway", settings=GatewaySettings(**dumped))  # every field "set", as harnesses do
    assert plain.runtime.load.threshold_s == 0.0 and widened.runtime.load.threshold_s == 0.0
    asked = await serve("router", settings=MeshSettings(data_dir=tmp_path), app=_router_app(), shed=True)
    assert asked.runtime.load.threshold_s == 0.1  # the product's default
    assert Runtime(MeshSettings(data_dir=tmp_path)).load.threshold_s == 0.1
