"""Graceful shutdown: NOT_SERVING first, in-flight calls finish within the
grace period while new ones are refused, long-lived streams end on `stopping`,
and nothing outlives the grace period."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.server import GrpcApp
from switchboard.runtime.settings import MeshSettings

ROUTER = router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class SlowRouter(router_pb2_grpc.RouterServiceServicer):
    """Generate streams `max_tokens` tokens, one every `interval` seconds; with
    max_tokens 0 it is a long-lived stream that ends when shutdown begins."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.stopping = asyncio.Event()  # replaced by the runtime's once served

    async def Generate(self, request, context) -> AsyncIterator[router_pb2.GenerateResponse]:  # noqa: N802
        count = 0
        while request.max_tokens == 0 or count < request.max_tokens:
            if request.max_tokens == 0 and self.stopping.is_set():
                return
            await asyncio.sleep(self.interval)
            count += 1
            yield router_pb2.GenerateResponse(token=router_pb2.TokenEvent(text=f"t{count}"))

    async def ListBackends(self, request, context):  # noqa: N802
        return router_pb2.ListBackendsResponse()


async def _rest(call) -> list[str]:
    """The remaining events' texts (read() style: a call may not mix styles)."""
    texts = []
    while (event := await call.read()) is not grpc.aio.EOF:
        texts.append(event.token.text)
    return texts


async def _serve_slow(serve, tmp_path: Path, *, grace: float, interval: float = 0.1, ignore_stopping: bool = False):
    servicer = SlowRouter(interval)
    app = GrpcApp(service_names=[ROUTER], servicers=[(router_pb2_grpc.add_RouterServiceServicer_to_server, servicer)])
    settings = MeshSettings(data_dir=tmp_path / "data", shutdown_grace_s=grace, log_format="text")
    running = await serve("router", settings=settings, app=app)
    if not ignore_stopping:
        servicer.stopping = running.runtime.stopping
    return running, router_pb2_grpc.RouterServiceStub(running.channel), health_pb2_grpc.HealthStub(running.channel)


async def test_in_flight_stream_finishes_while_health_says_not_serving(serve, tmp_path: Path) -> None:
    grace = 5.0
    running, router, health = await _serve_slow(serve, tmp_path, grace=grace)
    call = router.Generate(router_pb2.GenerateRequest(prompt="hi", max_tokens=20), timeout=30)
    assert (await call.read()).token.text == "t1"

    started = time.monotonic()
    stopping = asyncio.create_task(running.server.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done(), "stop() returned while a stream was still in flight"

    # During the drain the server still answers health, with NOT_SERVING...
    for name in ("", ROUTER):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
        assert reply.status == NOT_SERVING, name
    # ...and refuses new work, retryably.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await router.ListBackends(router_pb2.ListBackendsRequest(), timeout=2)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    # The stream in flight runs to its end.
    rest = await _rest(call)
    assert rest == [f"t{i}" for i in range(2, 21)]
    assert await call.code() == grpc.StatusCode.OK
    await asyncio.wait_for(stopping, grace)
    print(f"\ndrain of a 2 s stream took {time.monotonic() - started:.2f} s (grace {grace} s)")

    # After stop, calls are refused.
    with pytest.raises(grpc.aio.AioRpcError) as after:
        await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
    assert after.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_stream_longer_than_the_grace_is_cut_off_at_the_grace(serve, tmp_path: Path) -> None:
    grace = 0.5
    running, router, _ = await _serve_slow(serve, tmp_path, grace=grace, ignore_stopping=True)
    call = router.Generate(router_pb2.GenerateRequest(prompt="hi", max_tokens=0), timeout=30)
    await call.read()

    started = time.monotonic()
    await asyncio.wait_for(running.server.stop(), grace + 3.0)
    assert time.monotonic() - started >= grace * 0.9  # it did wait for the stream
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _rest(call)
    assert caught.value.code() != grpc.StatusCode.OK


async def test_long_lived_stream_ends_cleanly_when_stopping_is_set(serve, tmp_path: Path) -> None:
    grace = 10.0
    running, router, _ = await _serve_slow(serve, tmp_path, grace=grace, interval=0.05)
    call = router.Generate(router_pb2.GenerateRequest(prompt="watch", max_tokens=0), timeout=30)
    await call.read()

    stopping = asyncio.create_task(running.server.stop())
    events = await _rest(call)  # ends instead of running forever
    assert await call.code() == grpc.StatusCode.OK
    assert len(events) < 10
    # ...so shutdown does not wait out the whole grace period.
    await asyncio.wait_for(stopping, grace / 2)
