"""Wrapping a gRPC method handler's behaviour, for server interceptors: the one
place that knows the four call shapes and which handlers cannot be wrapped."""

from __future__ import annotations

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


class RewrapMemo:
    """One interceptor's wrapped handlers, kept per method.

    grpc.aio asks every server interceptor again on every call, and a fresh
    `rewrap` builds new closures and a new handler tuple each time. When the
    wrappers depend only on the method and the handler below (no per-call
    state captured), the result is the same every time: build it once. The
    handler below is checked by identity, so a changed chain is rewrapped."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def get(
        self, method: str, handler: grpc.RpcMethodHandler, build: Callable[[], grpc.RpcMethodHandler]
    ) -> grpc.RpcMethodHandler:
        kept = self._memo.get(method)
        if kept is not None and kept[0] is handler:
            return kept[1]
        wrapped = build()
        self._memo[method] = (handler, wrapped)
        return wrapped
