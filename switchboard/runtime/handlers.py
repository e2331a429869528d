"""Wrapping a gRPC method handler's behaviour, for server interceptors: the one
place that knows the four call shapes and which handlers cannot be wrapped."""

from __future__ import annotations

import abc
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Stream = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


def rewrap(
    handler: grpc.RpcMethodHandler,
    wrap_unary: Callable[[Unary], Unary],
    wrap_stream: Callable[[Stream], Stream],
) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour passed through the wrapper for its shape.

    Stream handlers written in the `context.write` style (an `async def` without
    yield, e.g. grpc.health.v1 Watch) are returned untouched: a wrapper that
    iterates them would break them. Plain functions (the generated base class
    raising NotImplementedError) and async generators are wrapped.
    """
    streamer = handler.unary_stream or handler.stream_stream
    if streamer is not None and inspect.iscoroutinefunction(streamer):
        return handler
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(wrap_unary(handler.unary_unary), **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(wrap_unary(handler.stream_unary), **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(wrap_stream(handler.unary_stream), **kwargs)
    return grpc.stream_stream_rpc_method_handler(wrap_stream(handler.stream_stream), **kwargs)


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor whose work is wrapping each method's behaviour.

    Subclasses say which methods they leave alone (`leaves`) and how they wrap
    (`wrap_unary`, `wrap_stream`). grpc.aio asks every interceptor again on every
    call; the wrapped handler is built once per method and kept (checked against
    the handler below by identity, so a changed chain is wrapped again). So a
    wrapper must capture nothing of one call: what it needs of the call it
    reads from the call's context when it runs."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def leaves(self, method: str, handler: grpc.RpcMethodHandler) -> bool:
        """Whether `method` runs unwrapped."""
        return False

    @abc.abstractmethod
    def wrap_unary(self, method: str, behavior: Unary) -> Unary:
        """`behavior` (a unary-response method's) wrapped."""

    @abc.abstractmethod
    def wrap_stream(self, method: str, behavior: Stream) -> Stream:
        """`behavior` (a response-streaming method's async generator) wrapped."""

    def unwrappable(self, handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        """What to run for a handler `rewrap` cannot wrap (a context.write-style stream): itself."""
        return handler

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or self.leaves(method, handler):
            return handler
        kept = self._wrapped.get(method)
        if kept is not None and kept[0] is handler:
            wrapped = kept[1]
        else:
            wrapped = rewrap(handler, lambda b: self.wrap_unary(method, b), lambda b: self.wrap_stream(method, b))
            self._wrapped[method] = (handler, wrapped)
        return self.unwrappable(handler, handler_call_details) if wrapped is handler else wrapped
