"""grpc.health.v1 from grpcio-health-checking, made to drain.

The library's aio `Watch` only ends when the client goes away, so a server being
watched (every server is: the monitor watches them all) would wait out its whole
grace period on shutdown. Here a Watch stream ends cleanly once shutdown has begun
and the NOT_SERVING status has been written to it.
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

# Every grpc.health.v1 method's name starts with this: probes, left out of
# admission, metrics, tracing and the key check.
HEALTH_PREFIX = "/grpc.health.v1.Health/"

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class DrainingHealthServicer(health_aio.HealthServicer):
    def __init__(self, stopping: asyncio.Event) -> None:
        super().__init__()
        self._stopping = stopping

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext) -> None:  # type: ignore[override]  # noqa: N802
        watch = asyncio.ensure_future(super().Watch(request, context))
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({watch, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop.done() and not watch.done():
                # Let the parent write NOT_SERVING (set just before `stopping`) first.
                await asyncio.sleep(0.05)
        finally:
            for task in (watch, stop):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if watch.done() and not watch.cancelled() and watch.exception() is not None:
            raise watch.exception()  # type: ignore[misc]

    async def begin_shutdown(self) -> None:
        """NOT_SERVING for every service, then end the Watch streams."""
        await self.enter_graceful_shutdown()
        self._stopping.set()
