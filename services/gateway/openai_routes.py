"""The OpenAI-compatible routes: POST /v1/chat/completions and GET /v1/models.

HTTP and gRPC only; the format mapping is in openai_compat.py. stream=false
calls the router's Complete, stream=true its Generate (as SSE `data:` chunks).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.gateway import openai_compat
from services.gateway.admission import Admission, GatewayLimit
from services.gateway.errors import retry_headers
from services.gateway.openai_compat import OpenAIError
from services.gateway.rest import BodyTooLarge, read_json_body
from services.gateway.security import caller_of
from services.gateway.sse import EventStreamResponse
from switchboard.router.v1 import router_pb2, router_pb2_grpc
from switchboard.runtime.auth import caller_metadata
from switchboard.runtime.channels import PeerChannels
from switchboard.runtime.clock import Clock
from switchboard.runtime.status import field_violations

Metadata = Sequence[tuple[str, str]]


def _error(exc: OpenAIError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _rpc_error(exc: grpc.aio.AioRpcError) -> JSONResponse:
    code = exc.code()
    violations = field_violations(exc) if code == grpc.StatusCode.INVALID_ARGUMENT else []
    status, body = openai_compat.status_error(code.name, exc.details() or code.name,
                                              violations[0].field if violations else None)
    return JSONResponse(body, status_code=status, headers=retry_headers(code))


_ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def _only(method: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """`endpoint` for `method`; 405 in OpenAI's shape for any other."""

    async def guarded(request: Request) -> Response:
        if request.method != method:
            return _error(OpenAIError(405, f"{request.method} is not allowed here; use {method}",
                                      code="method_not_allowed"), headers={"Allow": method})
        return await endpoint(request)

    return guarded


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"


class BackendDirectory:
    """The router's backends, reused for `ttl_s`: model → backend pinning needs
    the names on every request, and they change rarely."""

    def __init__(self, router: router_pb2_grpc.RouterServiceStub, clock: Clock, *, ttl_s: float,
                 timeout_s: float) -> None:
        self._router = router
        self._clock = clock
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._backends: list[router_pb2.BackendInfo] = []
        self._fetched_at: float | None = None

    async def backends(self, metadata: Metadata) -> list[router_pb2.BackendInfo]:
        """The backends (raises AioRpcError when the router cannot say)."""
        now = self._clock.monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self._ttl_s:
            reply = await self._router.ListBackends(router_pb2.ListBackendsRequest(), timeout=self._timeout_s,
                                                    metadata=tuple(metadata))
            self._backends, self._fetched_at = list(reply.backends), now
        return self._backends

    async def names(self, metadata: Metadata) -> set[str]:
        """Backend names, or none when the router cannot list them (then
        nothing is pinned and the router chooses: the answer still comes)."""
        try:
            return {b.name for b in await self.backends(metadata)}
        except grpc.aio.AioRpcError:
            return set()


class OpenAIRoutes:
    def __init__(
        self,
        channels: PeerChannels,
        clock: Clock,
        *,
        request_timeout_s: float,
        stream_timeout_s: float,
        max_body_bytes: int,
        models_cache_s: float,
        limit: GatewayLimit | None = None,
    ) -> None:
        self._channels = channels
        self._limit = limit
        self._clock = clock
        self._request_timeout_s = request_timeout_s
        self._stream_timeout_s = stream_timeout_s
        self._max_body_bytes = max_body_bytes
        self._models_cache_s = models_cache_s
        self._directory: BackendDirectory | None = None
        self._stub: tuple[grpc.aio.Channel, router_pb2_grpc.RouterServiceStub] | None = None

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", _only("POST", self.chat_completions), methods=_ANY),
            Route("/v1/models", _only("GET", self.models), methods=_ANY),
        ]

    @property
    def _router(self) -> router_pb2_grpc.RouterServiceStub:
        # One stub per channel: building one makes a multicallable per method, on every request.
        channel = self._channels.channel("router")
        if self._stub is None or self._stub[0] is not channel:
            self._stub = (channel, router_pb2_grpc.RouterServiceStub(channel))
        return self._stub[1]

    @property
    def directory(self) -> BackendDirectory:
        if self._directory is None:  # lazily: the channel opens on first use
            self._directory = BackendDirectory(self._router, self._clock, ttl_s=self._models_cache_s,
                                               timeout_s=min(self._request_timeout_s, 5.0))
        return self._directory

    @staticmethod
    def _metadata(request: Request) -> Metadata:
        caller = caller_of(request.scope)
        return caller_metadata(caller) if caller is not None else ()

    async def models(self, request: Request) -> Response:
        try:
            backends = await self.directory.backends(self._metadata(request))
        except grpc.aio.AioRpcError as exc:
            return _rpc_error(exc)
        created = int(self._clock.now().timestamp())
        data = [
            {
                "id": b.name,
                "object": "model",
                "created": created,
                "owned_by": "switchboard",
                "switchboard": {
                    "model": b.model,
                    "kind": router_pb2.BackendKind.Name(b.kind),
                    "mock": b.mock,
                    "breaker_state": router_pb2.BreakerState.Name(b.breaker_state),
                    "health": router_pb2.BackendHealth.Name(b.health),
                },
            }
            for b in backends
        ]
        return JSONResponse({"object": "list", "data": data})

    async def chat_completions(self, request: Request) -> Response:
        if self._limit is None:
            return await self._chat_completions(request, None)
        admission = self._limit.admit()
        if admission is None:
            # Before the body is read: a refusal must cost next to nothing.
            return _error(OpenAIError(503, "the gateway is at its limit of requests in flight (overloaded); "
                                           "retry shortly", code="server_overloaded"), {"Retry-After": "1"})
        try:
            return await self._chat_completions(request, admission)
        finally:
            # A stream keeps its permit until its router call ends (the call's done
            # callback releases it too); release is idempotent.
            if not admission.streaming:
                admission.release()

    async def _chat_completions(self, request: Request, admission: Admission | None) -> Response:
        try:
            body = await read_json_body(request, self._max_body_bytes)
        except BodyTooLarge:
            return _error(OpenAIError(413, f"request body over {self._max_body_bytes} bytes",
                                      code="request_too_large"))
        except TypeError as exc:
            return _error(OpenAIError(415, f"content-type {exc} is not application/json",
                                      code="unsupported_media_type"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return _error(OpenAIError(400, f"malformed JSON body: {exc}", code="invalid_json"))
        metadata = self._metadata(request)
        try:
            parsed = openai_compat.parse_request(body)
            pinned = openai_compat.pinned_backend(parsed.model, await self.directory.names(metadata))
            request_id = uuid.uuid4().hex
            grpc_request: Any = (openai_compat.generate_request if parsed.stream else openai_compat.complete_request)(
                parsed, pinned, request_id)
            grpc_request.SerializeToString()  # e.g. a lone surrogate in a string: refuse it here
        except OpenAIError as exc:
            return _error(exc)
        except ValueError as exc:
            return _error(OpenAIError(400, f"the request cannot be encoded: {exc}", code="invalid_value"))
        created = int(self._clock.now().timestamp())
        if not parsed.stream:
            return await self._complete(grpc_request, metadata, request_id, created, admission)
        return await self._stream(grpc_request, metadata, request_id, created, parsed.include_usage, admission)

    async def _complete(self, grpc_request: router_pb2.CompleteRequest, metadata: Metadata,
                        request_id: str, created: int, admission: Admission | None) -> Response:
        if admission is not None:
            admission.calling()
        try:
            reply = await self._router.Complete(grpc_request, timeout=self._request_timeout_s,
                                                metadata=tuple(metadata))
        except grpc.aio.AioRpcError as exc:
            return _rpc_error(exc)
        if admission is not None:
            admission.observe(reply.done)
        headers = _switchboard_headers(reply.request_id or request_id, reply.backend, reply.done.degraded)
        completion = openai_compat.completion_object(reply, f"chatcmpl-{request_id}", created)
        return JSONResponse(completion, headers=headers)

    async def _stream(self, grpc_request: router_pb2.GenerateRequest, metadata: Metadata,
                      request_id: str, created: int, include_usage: bool, admission: Admission | None) -> Response:
        if admission is not None:
            admission.calling()
        call = self._router.Generate(grpc_request, timeout=self._stream_timeout_s, metadata=tuple(metadata))
        if admission is not None:
            # Held until the call ends however it ends (answered, failed, cancelled, deadline).
            admission.streaming = True
            call.add_done_callback(admission.release)
        # What comes before the first token decides the HTTP status: a failure
        # there is a real error response, not a 200 with an error inside. The
        # start event waits for the first token (or the end), so the 200's first
        # write carries both.
        head: list[Any] = []
        while not head or head[-1].WhichOneof("event") == "start":
            try:
                event = await call.read()
            except grpc.aio.AioRpcError as exc:
                return _rpc_error(exc)
            except BaseException:
                call.cancel()  # e.g. this task cancelled: the router's work (and the permit) ends too
                raise
            if event is grpc.aio.EOF:
                status, body = openai_compat.status_error("UNAVAILABLE", "the router ended the stream without an answer")
                return JSONResponse(body, status_code=status, headers=retry_headers("UNAVAILABLE"))
            if event.WhichOneof("event") == "error":
                call.cancel()
                code = event.error.code or "UNKNOWN"
                status, body = openai_compat.status_error(code, event.error.message)
                return JSONResponse(body, status_code=status, headers=retry_headers(code))
            head.append(event)
        if admission is not None:
            admission.first_event()
            if head[-1].WhichOneof("event") == "done":
                admission.observe(head[-1].done)
        mapper = openai_compat.StreamMapper(f"chatcmpl-{request_id}", created, include_usage)
        start = next((e.start for e in head if e.WhichOneof("event") == "start"), router_pb2.StartEvent())

        async def chunks() -> AsyncIterator[tuple[str, bool]]:
            # One write per read of the router's stream (its SSE objects
            # together); the last carries [DONE] and the end of the body.
            try:
                events: list[Any] = head
                while True:
                    text = "".join(_sse(obj) for event in events for obj in mapper.map(event))
                    if mapper.finished:
                        break
                    if text:
                        yield text, False
                    event = await call.read()
                    events = [event]
                    if event is grpc.aio.EOF:
                        text = _sse(mapper.truncated())
                        break
                    if admission is not None and event.WhichOneof("event") == "done":
                        admission.observe(event.done)
                yield (text if mapper.failed else text + "data: [DONE]\n\n"), True
            except grpc.aio.AioRpcError as exc:
                yield _sse(mapper.error(exc.code().name, exc.details() or exc.code().name)), True
            finally:
                if admission is not None:
                    admission.release()  # now, not when the router's status follows
                if not mapper.finished or mapper.failed:
                    call.cancel()  # failed, or the client went away: stop upstream too
                # A finished answer's call ends by itself (the router's OK follows its
                # done event at once): a cancel would only race that status.

        headers = {
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **_switchboard_headers(start.request_id or request_id, start.backend, start.degraded),
        }
        return EventStreamResponse(chunks(), on_disconnect=call.cancel, headers=headers)


def _switchboard_headers(request_id: str, backend: str, degraded: bool) -> dict[str, str]:
    """What the answer's headers say; the body's `switchboard` object says more."""
    headers = {"X-Switchboard-Request-Id": _header_safe(request_id),
               "X-Switchboard-Degraded": "true" if degraded else "false"}
    if backend:
        headers["X-Switchboard-Backend"] = _header_safe(backend)
    return headers


def _header_safe(value: str) -> str:
    # Header values are latin-1 without control characters; names come from config.
    return "".join(c if " " <= c <= "~" else "?" for c in value)[:200]


# --- the OpenAPI description of these routes ---------------------------------------

def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_NULLABLE_STRING = {"type": ["string", "null"]}
_USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {k: {"type": "integer", "minimum": 0}
                   for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
}
_SWITCHBOARD = {"type": "object", "description": "switchboard's own details (routing, switches, timings, degradation)."}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                               "param": _NULLABLE_STRING, "code": _NULLABLE_STRING},
            },
        },
    },
    "ChatMessage": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
            "content": {"oneOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["type", "text"],
                                                          "properties": {"type": {"type": "string", "enum": ["text"]},
                                                                         "text": {"type": "string", "minLength": 1}}}},
            ]},
        },
    },
    "ChatCompletionRequest": {
        "type": "object",
        "required": ["model", "messages"],
        "description": "OpenAI's request. `model` pins the request to the backend of that name "
                       "(see GET /v1/models); any other value lets the router choose.",
        "properties": {
            "model": {"type": "string", "minLength": 1, "maxLength": 256},
            "messages": {"type": "array", "minItems": 1, "items": _ref("ChatMessage")},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2**32 - 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 2**32 - 1},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "user": {"type": "string", "maxLength": 256, "description": "The end user (→ user_id)."},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"},
                         "description": "`topic` routes the request (code, math, creative, ...)."},
            "n": {"type": "integer", "minimum": 1, "maximum": 1},
        },
    },
    "ChatCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "system_fingerprint": _NULLABLE_STRING,
            "choices": {"type": "array", "items": {
                "type": "object",
                "required": ["index", "message", "finish_reason"],
                "properties": {
                    "index": {"type": "integer"},
                    "message": {"type": "object", "required": ["role", "content"], "properties": {
                        "role": {"type": "string", "enum": ["assistant"]}, "content": {"type": "string"},
                        "refusal": _NULLABLE_STRING}},
                    "logprobs": {"type": "null"},
                    "finish_reason": {"type": "string", "enum": ["stop", "length", "content_filter"]},
                },
            }},
            "usage": _USAGE,
            "switchboard": _SWITCHBOARD,
        },
    },
    "ChatCompletionChunk": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "description": "One `data:` line of a stream; the stream ends with `data: [DONE]`, or with "
                       "`data: {\"error\": ...}` (an OpenAIError) when the answer could not be completed.",
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["chat.completion.chunk"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "system_fingerprint": _NULLABLE_STRING,
            "choices": {"type": "array", "items": {"type": "object", "properties": {
                "index": {"type": "integer"},
                "delta": {"type": "object", "properties": {"role": {"type": "string"}, "content": {"type": "string"}}},
                "finish_reason": _NULLABLE_STRING}}},
            "usage": {"oneOf": [_USAGE, {"type": "null"}]},
            "switchboard": _SWITCHBOARD,
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "object", "created", "owned_by"],
                "properties": {"id": {"type": "string", "description": "A backend name: use it as `model` to pin."},
                               "object": {"type": "string", "enum": ["model"]}, "created": {"type": "integer"},
                               "owned_by": {"type": "string"}, "switchboard": _SWITCHBOARD},
            }},
        },
    },
}


def _errors(*statuses: str) -> dict[str, Any]:
    content = {"application/json": {"schema": _ref("OpenAIError")}}
    texts = {"400": "Bad request (`param` names the field).", "401": "Missing or wrong API key.",
             "413": "Body too large.", "415": "Not JSON.", "429": "Rate limited (see Retry-After).",
             "503": "The router (or every backend) is unavailable.", "504": "Deadline exceeded."}
    out = {s: {"description": texts[s], "content": content} for s in statuses}
    out["default"] = {"description": "Any other error.", "content": content}
    return out


# One event of a chat completion stream: `data` is a chunk, an error object (the
# answer could not be completed), or the final `[DONE]`.
_CHUNK_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}},
    "if": {"properties": {"data": {"const": "[DONE]"}}},
    "else": {"properties": {"data": {"contentMediaType": "application/json",
                                     "contentSchema": {"anyOf": [_ref("ChatCompletionChunk"), _ref("OpenAIError")]}}}},
}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/chat/completions": {"post": {
        "operationId": "openai_createChatCompletion",
        "tags": ["OpenAI-compatible"],
        "summary": "Chat completion (OpenAI-compatible; stream or not).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ChatCompletionRequest")}}},
        "responses": {
            "200": {
                "description": "A chat.completion, or with `stream: true` Server-Sent Events of chunks.",
                "content": {
                    "application/json": {"schema": _ref("ChatCompletion")},
                    "text/event-stream": {"schema": _CHUNK_EVENT},
                },
            },
            **_errors("400", "401", "413", "415", "429", "503", "504"),
        },
    }},
    "/v1/models": {"get": {
        "operationId": "openai_listModels",
        "tags": ["OpenAI-compatible"],
        "summary": "The router's backends, as OpenAI models.",
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _ref("ModelList")}}},
            **_errors("401", "429", "503"),
        },
    }},
}
