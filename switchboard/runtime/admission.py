"""Which calls a gRPC server admits: none new while it drains, none new while it
is overloaded (overload.py), health always.

Draining on shutdown without going deaf:
`grpc.aio.Server.stop(grace)` refuses every new call at once, health checks
included, so a caller polling grpc.health.v1 Check during the drain would see
"connection refused" instead of NOT_SERVING. The gate counts calls in flight;
once the drain begins it refuses new calls with UNAVAILABLE (retryable: go
elsewhere) while health keeps answering, and the server is stopped only when
the calls in flight are done or the grace period is over.

Overloaded, new calls get RESOURCE_EXHAUSTED at once, as grpc's own
maximum_concurrent_rpcs answers; calls already admitted finish.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc

from switchboard.runtime.handlers import Stream, Unary, WrappingInterceptor
from switchboard.runtime.health import HEALTH_PREFIX
from switchboard.runtime.overload import LagEstimate


class AdmissionGate(WrappingInterceptor):
    def __init__(self, load: LagEstimate | None = None) -> None:
        super().__init__()
        self._load = load
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def drain(self, timeout: float) -> None:
        """Refuses new calls from now on; returns when none is in flight or at `timeout`."""
        self._draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    def _enter(self) -> None:
        self._in_flight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    def _admits(self) -> bool:
        return not self._draining and (self._load is None or not self._load.overloaded)

    async def _refuse(self, context: grpc.aio.ServicerContext) -> None:
        if self._draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "server is shutting down")
        assert self._load is not None
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, self._load.refusal())

    def wrap_unary(self, method: str, behavior: Unary) -> Unary:
        async def gated(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if not self._admits():
                await self._refuse(context)
            self._enter()
            try:
                return await behavior(request, context)
            finally:
                self._leave()

        return gated

    def wrap_stream(self, method: str, behavior: Stream) -> Stream:
        async def gated(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if not self._admits():
                await self._refuse(context)
            self._enter()
            try:
                async for response in behavior(request, context):
                    yield response
            finally:
                self._leave()

        return gated

    def leaves(self, method: str, handler: grpc.RpcMethodHandler) -> bool:
        # Health keeps answering (NOT_SERVING) during the drain and is not waited for:
        # its Watch streams end on their own once shutdown begins.
        return method.startswith(HEALTH_PREFIX)
