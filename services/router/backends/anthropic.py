"""Anthropic Messages API: POST /v1/messages with `x-api-key` and
`anthropic-version`, stream=true; SSE events message_start,
content_block_start/delta/stop, message_delta, message_stop, ping and error.

System turns go in the top-level `system` field. Continuation uses prefill: the
partial answer is a trailing assistant turn, which the model continues. The API
rejects a final assistant turn ending in whitespace, so trailing whitespace is
stripped there — and dropped from the start of the continued text, since the
caller already has it.
"""

from __future__ import annotations

from typing import Any

from services.router.backends.base import (
    BackendError,
    BackendRequest,
    Chunk,
    ErrorKind,
    HttpBackend,
    SseLines,
    loads_object,
    roles_ok,
    usage_int,
)

API_VERSION = "2023-06-01"
# The API requires max_tokens; this is what a request without one gets.
DEFAULT_MAX_TOKENS = 4096

_FINISH = {"max_tokens": "length", "refusal": "content_filter"}  # everything else ends the turn: "stop"
_ERROR_KINDS = {
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "overloaded_error": ErrorKind.SERVER,
    "api_error": ErrorKind.SERVER,
    "timeout_error": ErrorKind.TIMEOUT,
    "invalid_request_error": ErrorKind.CLIENT,
    "authentication_error": ErrorKind.CLIENT,
    "permission_error": ErrorKind.CLIENT,
    "not_found_error": ErrorKind.CLIENT,
    "request_too_large": ErrorKind.CLIENT,
}


class AnthropicParser:
    def __init__(self, strip_leading_space: bool) -> None:
        self._sse = SseLines()
        self._strip_leading = strip_leading_space
        self._started = False
        self._finish = "stop"
        self._prompt_tokens: int | None = None
        self._completion_tokens: int | None = None
        self.done = False

    def feed(self, line: str) -> list[Chunk]:
        if self.done:
            return []
        event = self._sse.feed(line)
        if event is None:
            return []
        name, data = event
        obj = loads_object(data, f"{name or 'unnamed'} event")
        kind = obj.get("type", name)
        if kind == "error":
            err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
            etype = str(err.get("type", "error"))
            raise BackendError(
                _ERROR_KINDS.get(etype, ErrorKind.SERVER), f"error event: {etype}: {err.get('message', '')}"[:300]
            )
        if kind == "message_start":
            message = obj.get("message")
            if not isinstance(message, dict):
                raise BackendError(ErrorKind.MALFORMED, f"message_start without message: {data[:120]!r}")
            self._usage(message.get("usage"))
            self._started = True
            return []
        if not self._started and kind != "ping":
            raise BackendError(ErrorKind.MALFORMED, f"{kind} event before message_start")
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if not isinstance(delta, dict):
                raise BackendError(ErrorKind.MALFORMED, f"content_block_delta without delta: {data[:120]!r}")
            text = delta.get("text") if delta.get("type") == "text_delta" else None
            if not isinstance(text, str):
                return []  # thinking / tool input deltas carry no answer text
            if self._strip_leading:
                text = text.lstrip()
                if not text:
                    return []
                self._strip_leading = False
            return [Chunk(text=text)] if text else []
        if kind == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self._finish = _FINISH.get(delta["stop_reason"], "stop")
            self._usage(obj.get("usage"))
            return []
        if kind == "message_stop":
            self.done = True
            return [
                Chunk(
                    finish_reason=self._finish,
                    prompt_tokens=self._prompt_tokens,
                    completion_tokens=self._completion_tokens,
                )
            ]
        return []  # ping, content_block_start/stop, and event types added later

    def _usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        prompt = usage_int(usage, "input_tokens")
        if prompt is not None:
            self._prompt_tokens = prompt
        completion = usage_int(usage, "output_tokens")
        if completion is not None:
            self._completion_tokens = completion


class AnthropicBackend(HttpBackend):
    probe_path = "/v1/models"

    def _request_path(self) -> str:
        return "/v1/messages"

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def _request_body(self, request: BackendRequest) -> dict[str, Any]:
        roles_ok(request.messages)
        system = "\n\n".join(t.content for t in request.messages if t.role == "system")
        messages = [{"role": t.role, "content": t.content} for t in request.messages if t.role != "system"]
        prefill = request.assistant_prefix.rstrip()
        if prefill:
            messages.append({"role": "assistant", "content": prefill})
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS,
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            # Anthropic's range is [0, 1]; the router accepts OpenAI's [0, 2].
            body["temperature"] = min(request.temperature, 1.0)
        return body

    def _parser(self, request: BackendRequest) -> AnthropicParser:
        prefix = request.assistant_prefix
        return AnthropicParser(strip_leading_space=bool(prefix) and prefix != prefix.rstrip())
