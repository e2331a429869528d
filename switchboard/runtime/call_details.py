"""Client interceptors that rewrite what a call is sent with (its metadata).

grpc.aio files each client interceptor object under the first call shape it
implements only (its channel sorts them with if/elif), so one object written for
all four shapes silently sees unary-unary calls alone. `per_call_shape` gives
one interceptor per shape around the same rewrite.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

import grpc

Rewrite = Callable[[grpc.aio.ClientCallDetails], grpc.aio.ClientCallDetails]


def with_metadata(
    details: grpc.aio.ClientCallDetails, pairs: Iterable[tuple[str, str]], *, drop: Collection[str] = ()
) -> grpc.aio.ClientCallDetails:
    """`details` with `pairs` in its metadata, replacing entries of the same
    names (and removing those named in `drop`)."""
    pairs = list(pairs)
    replaced = {key for key, _ in pairs} | set(drop)
    kept = [(key, value) for key, value in tuple(details.metadata or ()) if key not in replaced]
    return details._replace(metadata=grpc.aio.Metadata(*kept, *pairs))  # type: ignore[attr-defined]


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, rewrite: Rewrite) -> None:
        self._rewrite = rewrite

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._rewrite(details), request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, rewrite: Rewrite) -> None:
        self._rewrite = rewrite

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._rewrite(details), request)


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, rewrite: Rewrite) -> None:
        self._rewrite = rewrite

    async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(self._rewrite(details), request_iterator)


class _StreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, rewrite: Rewrite) -> None:
        self._rewrite = rewrite

    async def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(self._rewrite(details), request_iterator)


def per_call_shape(rewrite: Rewrite) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors passing every call's details through `rewrite`, whatever its shape."""
    return [_UnaryUnary(rewrite), _UnaryStream(rewrite), _StreamUnary(rewrite), _StreamStream(rewrite)]
