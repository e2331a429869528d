"""The error boundary every gRPC service gets from the bootstrap.

- A domain `InvalidArgument` becomes INVALID_ARGUMENT with a BadRequest.
- A method a service has not implemented (the generated base class raises
  NotImplementedError) answers UNIMPLEMENTED with the method's name, quietly.
- Any other unexpected exception is logged once with its traceback and the
  trace id, and the caller gets INTERNAL without internals; the server lives on.
- Aborts (`context.abort`) and cancellations pass through untouched.

Server streams must be async generators (the OpenTelemetry aio interceptor
requires that style too). Library handlers written in the `context.write` style
(grpc.health.v1 Watch) are left unguarded: wrapping them would break them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc._cython import cygrpc
from opentelemetry import trace

from switchboard.runtime.handlers import Stream, Unary, WrappingInterceptor
from switchboard.runtime.status import InvalidArgument, abort_invalid

log = logging.getLogger("switchboard.errors")

# ExecuteBatchError: the caller left while a status or message was being sent
# (e.g. an abort racing the caller's cancel): the call is over, nobody is left to
# answer, and grpc's own server logs it at DEBUG. Treated as a bug here, it was
# logged as one and answered with a second abort, which grpc refuses (UsageError).
_PASS_THROUGH: tuple[type[BaseException], ...] = (grpc.aio.AbortError, grpc.RpcError, cygrpc.ExecuteBatchError)


def _trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else "-"


async def _fail(method: str, context: grpc.aio.ServicerContext, exc: Exception) -> None:
    if isinstance(exc, InvalidArgument):
        await abort_invalid(context, exc.violations)
    if isinstance(exc, NotImplementedError):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented yet")
    log.exception("unhandled error in %s", method, extra={"method": method})
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method} (trace {_trace_id()})")


def _guard_unary(method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(request, context)
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # noqa: BLE001  (the boundary's job)
            await _fail(method, context, exc)

    return guarded


def _guard_stream(method: str, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behavior(request, context):
                yield response
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # noqa: BLE001
            await _fail(method, context, exc)

    return guarded


class ErrorBoundary(WrappingInterceptor):
    def wrap_unary(self, method: str, behavior: Unary) -> Unary:
        return _guard_unary(method, behavior)

    def wrap_stream(self, method: str, behavior: Stream) -> Stream:
        return _guard_stream(method, behavior)
