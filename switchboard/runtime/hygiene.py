"""Input hygiene at every gRPC server's door.

Some values are never valid in any switchboard request, whatever the method:
text with a NUL character (PostgreSQL cannot store it, and no caller means it),
and Timestamps or Durations outside the ranges the protobuf spec allows (they
crash conversions deep inside a service). Rejecting them here, once, turns what
would be an INTERNAL error somewhere downstream into INVALID_ARGUMENT naming the
field. Bounds that depend on meaning (a heartbeat of at most an hour) stay with
each service's own validation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from switchboard.runtime.handlers import Stream, Unary, WrappingInterceptor
from switchboard.runtime.status import FieldViolation, abort_invalid

# google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
# google.protobuf.Duration: ±10,000 years.
_MAX_DURATION_S = 315_576_000_000


def _path(prefix: str, name: str, index: int | None = None) -> str:
    base = f"{prefix}.{name}" if prefix else name
    return base if index is None else f"{base}[{index}]"


def violations(message: Message, prefix: str = "") -> Iterator[FieldViolation]:
    """Every value in `message` (recursively) that no request may carry."""
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        if not _MIN_SECONDS <= message.seconds <= _MAX_SECONDS or not 0 <= message.nanos < 1_000_000_000:
            yield FieldViolation(prefix or "timestamp", "is outside the valid Timestamp range (years 1 to 9999)")
        return
    if name == "google.protobuf.Duration":
        s, n = message.seconds, message.nanos
        if abs(s) > _MAX_DURATION_S or abs(n) >= 1_000_000_000 or (s > 0 > n) or (s < 0 < n):
            yield FieldViolation(prefix or "duration", "is outside the valid Duration range (±10,000 years)")
        return
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_STRING:
            items = value if field.is_repeated else [value]
            for i, text in enumerate(items):
                if "\x00" in text:
                    yield FieldViolation(_path(prefix, field.name, i if field.is_repeated else None),
                                         "must not contain a NUL character")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    if isinstance(key, str) and "\x00" in key:
                        yield FieldViolation(_path(prefix, field.name), "keys must not contain a NUL character")
                    if isinstance(item, Message):
                        yield from violations(item, f"{_path(prefix, field.name)}[{key!r}]")
                    elif isinstance(item, str) and "\x00" in item:
                        yield FieldViolation(f"{_path(prefix, field.name)}[{key!r}]", "must not contain a NUL character")
            elif field.is_repeated:
                for i, item in enumerate(value):
                    yield from violations(item, _path(prefix, field.name, i))
            else:
                yield from violations(value, _path(prefix, field.name))


class RequestHygiene(WrappingInterceptor):
    """Rejects unary and server-streaming requests carrying never-valid values.
    (Client-streamed messages are validated by their service per message.)"""

    def leaves(self, method: str, handler: grpc.RpcMethodHandler) -> bool:
        return bool(handler.request_streaming)

    def wrap_unary(self, method: str, behavior: Unary) -> Unary:
        return _unary(behavior)

    def wrap_stream(self, method: str, behavior: Stream) -> Stream:
        return _stream(behavior)


def _unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
        found = list(violations(request)) if isinstance(request, Message) else []
        if found:
            await abort_invalid(context, found)
        return await behavior(request, context)

    return checked


def _stream(behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def checked(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        found = list(violations(request)) if isinstance(request, Message) else []
        if found:
            await abort_invalid(context, found)
        async for response in behavior(request, context):
            yield response

    return checked
