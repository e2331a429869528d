"""The OpenAI chat-completions format ↔ the router's contract. Pure mapping: no
HTTP, no I/O (openai_routes.py does those).

Request (POST /v1/chat/completions):
- `messages`: roles system, developer (treated as system), user, assistant;
  `content` a string or an array of `{"type": "text", "text": ...}` parts
  (joined with a newline). Other roles (tool, function) and non-text parts are
  refused with 400, as are `n` > 1 and `tools`/`functions`: silently answering
  something else than what was asked would be worse.
- `model`: when it is the name of a configured backend (as listed by
  GET /v1/models), the request is pinned to that backend (no fallback);
  any other value ("auto", "gpt-4o", ...) lets the router choose.
- `user` → user_id; `metadata.topic` → topic; `max_completion_tokens` (or the
  older `max_tokens`) → max_tokens; `temperature` → temperature. Other sampling
  options (top_p, stop, seed, ...) are accepted and ignored.

Response: the OpenAI objects, unchanged in shape, plus what switchboard knows:
- `model` is the model that answered and `system_fingerprint` the backend that
  produced the final tokens;
- an extra `switchboard` object (the SDK keeps unknown fields: `model_extra`)
  on the completion and on chunks: routing details on the first chunk, every
  backend switch as its own chunk with an empty delta, and timings, usage
  estimates, cost and degradation on the finishing chunk;
- headers X-Switchboard-Backend / -Request-Id / -Degraded (openai_routes.py).

Streams end with `data: [DONE]` only after the router's DoneEvent. An
ErrorEvent (or a failed stream) becomes `data: {"error": {...}}` and no
[DONE], so a client never mistakes a truncated answer for a complete one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.gateway.errors import HTTP_STATUS_BY_NAME
from switchboard.router.v1 import router_pb2

UINT32_MAX = 2**32 - 1


class OpenAIError(Exception):
    """An error to answer in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, code=self.code)


def error_type(status: int) -> str:
    """OpenAI's error `type` for an HTTP status."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}


# --- the request -----------------------------------------------------------------

_ROLES = {
    "system": router_pb2.ROLE_SYSTEM,
    "developer": router_pb2.ROLE_SYSTEM,
    "user": router_pb2.ROLE_USER,
    "assistant": router_pb2.ROLE_ASSISTANT,
}


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | list[Any] | None = None
    tool_calls: list[Any] | None = None

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        if role not in _ROLES:
            raise ValueError(f"role {role!r} is not supported (use system, developer, user or assistant)")
        return role

    @field_validator("content")
    @classmethod
    def _text_only(cls, content: Any) -> Any:
        if isinstance(content, list):
            texts = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise ValueError('only text content parts ({"type": "text", "text": "..."}) are supported')
                texts.append(part["text"])
            return "\n".join(texts)
        return content

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else ""


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields of an OpenAI chat-completions request that switchboard honours."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    messages: list[_Message] = Field(min_length=1)
    stream: bool = False
    stream_options: _StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=UINT32_MAX)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=UINT32_MAX)
    temperature: float | None = Field(default=None, ge=0, le=2)
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="Only one choice is supported.")
    tools: list[Any] | None = None
    functions: list[Any] | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def _param(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as OpenAI names params: messages[0].content."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_request(body: Any) -> ChatCompletionRequest:
    """The request, or OpenAIError(400) naming the first bad param."""
    if not isinstance(body, dict):
        raise OpenAIError(400, "the request body must be a JSON object", code="invalid_request")
    try:
        request = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = _param(tuple(first["loc"]))
        message = str(first["msg"]).removeprefix("Value error, ")
        raise OpenAIError(400, f"{param}: {message}", param=param, code="invalid_value") from None
    if request.tools or request.functions:
        param = "tools" if request.tools else "functions"
        raise OpenAIError(400, f"{param}: tool calling is not supported", param=param, code="unsupported_parameter")
    for index, message in enumerate(request.messages):
        if message.tool_calls:
            param = f"messages[{index}].tool_calls"
            raise OpenAIError(400, f"{param}: tool calling is not supported", param=param, code="unsupported_parameter")
        if message.content is None:
            param = f"messages[{index}].content"
            raise OpenAIError(400, f"{param}: is required", param=param, code="invalid_value")
    return request


def pinned_backend(model: str, backend_names: Collection[str]) -> str:
    """The backend `model` pins, or "" to let the router choose."""
    return model if model in backend_names else ""


def router_fields(request: ChatCompletionRequest, pinned: str, request_id: str) -> dict[str, Any]:
    """The keyword arguments of GenerateRequest / CompleteRequest (same fields)."""
    fields: dict[str, Any] = {
        "messages": [router_pb2.ChatMessage(role=_ROLES[m.role], content=m.text()) for m in request.messages],
        "user_id": request.user or "",
        "topic": (request.metadata or {}).get("topic", ""),
        "max_tokens": request.max_completion_tokens or request.max_tokens or 0,
        "pinned_backend": pinned,
        "request_id": request_id,
    }
    if request.temperature is not None:
        fields["temperature"] = request.temperature
    return fields


def generate_request(request: ChatCompletionRequest, pinned: str, request_id: str) -> router_pb2.GenerateRequest:
    return router_pb2.GenerateRequest(**router_fields(request, pinned, request_id))


def complete_request(request: ChatCompletionRequest, pinned: str, request_id: str) -> router_pb2.CompleteRequest:
    return router_pb2.CompleteRequest(**router_fields(request, pinned, request_id))


# --- the response ----------------------------------------------------------------

_FINISH = {
    router_pb2.FINISH_REASON_STOP: "stop",
    router_pb2.FINISH_REASON_LENGTH: "length",
    router_pb2.FINISH_REASON_CONTENT_FILTER: "content_filter",
    router_pb2.FINISH_REASON_DEGRADED: "stop",  # the offline answer is complete; `switchboard.degraded` says so
}


def finish_reason(reason: int) -> str:
    return _FINISH.get(reason, "stop")


def _dict(message: Message) -> dict[str, Any]:
    # snake_case like the rest of the OpenAI objects
    return json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def usage(done: router_pb2.DoneEvent) -> dict[str, int]:
    prompt, completion = done.usage.prompt_tokens, done.usage.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _done_details(done: router_pb2.DoneEvent) -> dict[str, Any]:
    details = _dict(done)
    details["usage_estimated"] = done.usage.estimated
    details["degraded"] = done.degraded
    details.pop("usage", None)  # in `usage` already
    return details


def completion_object(reply: router_pb2.CompleteResponse, completion_id: str, created: int) -> dict[str, Any]:
    """A `chat.completion` from the router's CompleteResponse."""
    done = reply.done
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": reply.model or reply.backend,
        "system_fingerprint": reply.backend or None,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.text, "refusal": None},
            "logprobs": None,
            "finish_reason": finish_reason(done.finish_reason),
        }],
        "usage": usage(done),
        "switchboard": {
            "request_id": reply.request_id,
            "backend": reply.backend,
            "topic": reply.topic,
            "cache_hit": reply.cache_hit,
            "mock": reply.mock,
            "switches": [_dict(s) for s in reply.switches],
            **_done_details(done),
        },
    }


@dataclass
class StreamMapper:
    """Turns Generate events into chat.completion.chunk objects, one call per
    event. `finished` once a DoneEvent or an ErrorEvent has been mapped."""

    completion_id: str
    created: int
    include_usage: bool
    model: str = ""
    backend: str = ""
    finished: bool = False
    failed: bool = False
    _chars: int = field(default=0, repr=False)

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model or self.backend,
            "system_fingerprint": self.backend or None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self.include_usage:
            chunk["usage"] = None  # as OpenAI does: only the last chunk carries usage
        if extra:
            chunk["switchboard"] = extra
        return chunk

    def map(self, event: router_pb2.GenerateResponse) -> list[dict[str, Any]]:
        """The objects to send for `event` (an error object for an ErrorEvent)."""
        kind = event.WhichOneof("event")
        if kind == "start":
            start = event.start
            self.model, self.backend = start.model, start.backend
            return [self._chunk({"role": "assistant", "content": ""}, extra=_dict(start))]
        if kind == "token":
            self._chars += len(event.token.text)
            if event.token.backend:
                self.backend = event.token.backend
            return [self._chunk({"content": event.token.text})]
        if kind == "backend_switch":
            self.backend = event.backend_switch.to_backend
            return [self._chunk({}, extra={"backend_switch": _dict(event.backend_switch)})]
        if kind == "done":
            done = event.done
            self.finished = True
            if done.backend:
                self.backend = done.backend
            out = [self._chunk({}, finish_reason(done.finish_reason), extra=_done_details(done))]
            if self.include_usage:
                last = self._chunk({})
                last["choices"] = []
                last["usage"] = usage(done)
                out.append(last)
            return out
        if kind == "error":
            error = event.error
            return [self.error(error.code or "UNKNOWN", error.message or "the answer could not be completed",
                               attempts=[_dict(a) for a in error.attempts], chars_sent=error.chars_sent)]
        return []  # an event kind this gateway does not know yet: skip, never fail the stream

    def error(self, code: str, message: str, **details: Any) -> dict[str, Any]:
        """The in-stream error object; ends the stream (no [DONE] follows)."""
        self.finished = self.failed = True
        body = error_body(HTTP_STATUS_BY_NAME.get(code, 500), message, code=code.lower())
        details.setdefault("chars_sent", self._chars)
        body["switchboard"] = details
        return body

    def truncated(self) -> dict[str, Any]:
        """The router's stream ended with neither DoneEvent nor ErrorEvent."""
        return self.error("UNAVAILABLE", "the answer stream ended before it was complete")


def status_error(code_name: str, message: str, param: str | None = None) -> tuple[int, dict[str, Any]]:
    """A gRPC status (by name) as an HTTP status and an OpenAI error body."""
    status = HTTP_STATUS_BY_NAME.get(code_name, 500)
    return status, error_body(status, message or code_name, param=param, code=code_name.lower())
