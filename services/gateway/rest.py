"""The REST face: every annotated RPC, dispatched by the routes the protos
declare. Unary calls answer JSON; server streams answer Server-Sent Events
(`data: <json>` per message; a failure mid-stream is an `event: error`)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import unquote
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.gateway.errors import error_response, from_rpc_error, rpc_error_response
from services.gateway.sse import EventStreamResponse
from services.gateway.transcoding import RestRoute, TranscodingError
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.status import FieldViolation


# How long a server stream's first message may decide the HTTP status.
FIRST_EVENT_WAIT_S = 1.0


def to_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


class BodyTooLarge(Exception):
    pass


async def read_json_body(request: Request, limit: int) -> Any:
    """The parsed JSON body, None when empty; raises BodyTooLarge or ValueError."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", ""):
        raise TypeError(content_type)
    return json.loads(raw)


class RestDispatcher:
    def __init__(
        self,
        routes: Sequence[RestRoute],
        channels: PeerChannels,
        *,
        unary_timeout_s: float,
        stream_timeout_s: float,
        max_body_bytes: int,
        first_event_wait_s: float = FIRST_EVENT_WAIT_S,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self._routes = list(routes)
        # Set when the gateway shuts down: endless watch streams end then, with a
        # final `event: end`, instead of holding shutdown for the whole grace.
        self._stopping = stopping or asyncio.Event()
        self._first_event_wait_s = first_event_wait_s
        self._channels = channels
        self._unary_timeout_s = unary_timeout_s
        self._stream_timeout_s = stream_timeout_s
        self._max_body_bytes = max_body_bytes

    def find(self, method: str, path: str) -> tuple[RestRoute, dict[str, str]] | Response:
        allowed = []
        for route in self._routes:
            params = route.match(path)
            if params is None:
                continue
            if route.http_method == method:
                return route, params
            allowed.append(route.http_method)
        if allowed:
            return error_response(405, "METHOD_NOT_ALLOWED", f"{method} not allowed on {path}",
                                  headers={"Allow": ", ".join(sorted(set(allowed)))})
        return error_response(404, "NOT_FOUND", f"no route for {method} {path}")

    async def __call__(self, request: Request, metadata: Sequence[tuple[str, str]] = ()) -> Response:
        # Match on the raw path so an escaped "/" (%2F) stays inside a variable.
        raw = request.scope.get("raw_path") or request.url.path.encode()
        found = self.find(request.method, raw.decode("latin-1"))
        if isinstance(found, Response):
            return found
        route, raw_params = found
        params = {name: unquote(value) for name, value in raw_params.items()}
        try:
            body = await read_json_body(request, self._max_body_bytes) if route.body else None
        except BodyTooLarge:
            return error_response(413, "PAYLOAD_TOO_LARGE", f"body over {self._max_body_bytes} bytes")
        except TypeError as exc:
            return error_response(415, "UNSUPPORTED_MEDIA_TYPE", f"content-type {exc} is not application/json")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurd nesting
            return error_response(400, "INVALID_ARGUMENT", f"malformed JSON body: {exc}",
                                  [FieldViolation("body", "malformed JSON")])
        try:
            grpc_request = route.build_request(params, request.query_params.multi_items(), body)
        except TranscodingError as exc:
            return error_response(400, "INVALID_ARGUMENT", str(exc), [FieldViolation(exc.field, exc.description)])
        channel = self._channels.channel(route.peer)
        serializer = type(grpc_request).SerializeToString
        deserializer = route.response_class.FromString
        if not route.server_streaming:
            call = channel.unary_unary(route.grpc_path, request_serializer=serializer,
                                       response_deserializer=deserializer)
            try:
                reply = await call(grpc_request, timeout=self._unary_timeout_s, metadata=tuple(metadata))
            except grpc.aio.AioRpcError as exc:
                return rpc_error_response(exc)
            return JSONResponse(to_json(reply))
        stream = channel.unary_stream(route.grpc_path, request_serializer=serializer,
                                      response_deserializer=deserializer)
        call = stream(grpc_request, timeout=self._stream_timeout_s, metadata=tuple(metadata))
        return await self._sse(call, endless=route.template.endswith(":watch"))

    async def _next(self, call: grpc.aio.UnaryStreamCall, endless: bool, pending: Any = None) -> Any:
        """The next message (or `pending`'s); None when an endless stream must
        end for shutdown."""
        read = pending if pending is not None else asyncio.ensure_future(call.read())
        if not endless:
            return await read
        stop = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if read.done():
            return read.result()
        read.cancel()
        return None

    async def _sse(self, call: grpc.aio.UnaryStreamCall, *, endless: bool = False) -> Response:
        # Wait (briefly) for the first message so an immediate failure (bad
        # input, service down) is a real HTTP status rather than a 200 with an
        # error event. A watch stream may have nothing to say for hours: past the
        # wait the 200 and its headers go out and the first message follows.
        first_read = asyncio.ensure_future(call.read())
        await asyncio.wait({first_read}, timeout=self._first_event_wait_s)
        if first_read.done():
            try:
                first_read.result()
            except grpc.aio.AioRpcError as exc:
                return rpc_error_response(exc)

        async def events() -> AsyncIterator[tuple[str, bool]]:
            try:
                if not first_read.done():
                    yield ": waiting for the first event\n\n", False  # an SSE comment: clients ignore it
                message = await self._next(call, endless, first_read)
                while message is not None and message is not grpc.aio.EOF:
                    yield f"data: {json.dumps(to_json(message))}\n\n", False
                    message = await self._next(call, endless)
                if message is None:
                    yield 'event: end\ndata: {"reason": "the gateway is shutting down; reconnect"}\n\n', True
            except grpc.aio.AioRpcError as exc:
                _, body = from_rpc_error(exc)
                yield f"event: error\ndata: {json.dumps(body)}\n\n", True
            finally:
                call.cancel()  # the client went away: stop the upstream stream too

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return EventStreamResponse(events(), on_disconnect=call.cancel, headers=headers)
