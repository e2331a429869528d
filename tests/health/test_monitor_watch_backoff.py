"""The Watch reconnection back-off of a service watcher, on a manual clock
against a real grpc.health.v1 server that goes away and comes back on the same
port: while the server is gone the back-off grows; once a Check gets an answer
again the broken Watch streams re-open at once (not after the grown back-off)
and their back-off starts over."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from services.health.model import ProbeResult, Status
from services.health.service_watch import ServiceWatcher, watch_channel_options
from switchboard.runtime.clock import ManualClock
from switchboard.testing.infra import free_port

SERVICE = "switchboard.cache.v1.CacheService"


async def _reached(condition: Callable[[], bool], within_s: float) -> bool:
    try:
        await _until(condition, within_s)
    except TimeoutError:
        return False
    return True


async def _health_server(port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    servicer = health_aio.HealthServicer()
    await servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_channel_reconnect_backoff_never_exceeds_the_check_interval() -> None:
    options = dict(watch_channel_options([], 0.1, 30.0, 1.0))
    assert options["grpc.max_reconnect_backoff_ms"] == 1000
    assert options["grpc.initial_reconnect_backoff_ms"] == 100
    assert dict(watch_channel_options([], 0.1, 2.0))["grpc.max_reconnect_backoff_ms"] == 2000


async def test_watch_reopens_on_the_first_answer_and_its_backoff_starts_over() -> None:
    clock = ManualClock()
    port = free_port()
    server = await _health_server(port)
    reports: list[tuple[float, ProbeResult]] = []
    watcher = ServiceWatcher(
        f"127.0.0.1:{port}", SERVICE, lambda r: reports.append((clock.monotonic(), r)), clock,
        check_interval_s=1.0, check_timeout_s=0.5, backoff_initial_s=1.0, backoff_max_s=600.0,
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(watcher.run(stopping))

    def watched_healthy_since(t: float) -> bool:
        return any(at >= t and not r.counts_as_probe and r.status is Status.HEALTHY for at, r in reports)

    try:
        await _until(lambda: watched_healthy_since(0.0))
        await server.stop(0)
        await _until(lambda: reports[-1][1].status is Status.UNREACHABLE)

        # Both Watch loops (server "" and the service) retry after 1, 2, 4, ... 32 s:
        # their back-off is now 64 s.
        for k in range(6):
            before = watcher.reconnects
            clock.advance(2.0**k)
            # On a loaded machine a loop may not be asleep yet when the clock moves; it
            # then sleeps from the new time, so move the clock by the same step again.
            async with asyncio.timeout(20):
                while not await _reached(lambda before=before: watcher.reconnects >= before + 2, 2.0):  # type: ignore[misc]
                    clock.advance(2.0**k)

        server = await _health_server(port)
        back_at = clock.monotonic()
        # One check interval at a time (the channel's own reconnect back-off is
        # real time, capped at the interval) until a Check answers ...
        async with asyncio.timeout(20):
            while not any(at >= back_at and r.counts_as_probe and r.status is Status.HEALTHY for at, r in reports):
                clock.advance(1.0)
                await asyncio.sleep(0.2)
        # ... and then the Watch streams are open again at once, not 64 s later.
        await _until(lambda: watched_healthy_since(back_at), timeout=5)
        assert clock.monotonic() - back_at < 30, "the Watch waited out its grown back-off"

        # Its back-off started over: after the next break it retries after 1 s.
        await server.stop(0)
        await _until(lambda: any(not r.counts_as_probe and r.status is Status.UNREACHABLE
                                 for at, r in reports if at >= back_at))
        await asyncio.sleep(0.1)
        before = watcher.reconnects
        clock.advance(1.0)
        await _until(lambda: watcher.reconnects >= before + 2, timeout=5)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)
        await server.stop(0)
