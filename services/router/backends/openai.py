"""OpenAI-compatible chat completions (OpenAI, vLLM, llama.cpp server, LM Studio,
Ollama's /v1): POST /v1/chat/completions with stream=true, read SSE `data:`
events until `[DONE]`.

Continuation is best-effort: the partial answer goes as a final assistant
message. Servers that honour a trailing assistant message continue it; others
may start a fresh answer. There is no portable "continue" flag in this API
(OpenAI rejects unknown request fields), so none is sent.
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
    error_message,
    loads_object,
    roles_ok,
    usage_int,
)

_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


def chat_messages(request: BackendRequest) -> list[dict[str, str]]:
    """The request's turns plus the continuation prefix as a last assistant turn."""
    roles_ok(request.messages)
    messages = [{"role": t.role, "content": t.content} for t in request.messages]
    if request.assistant_prefix:
        messages.append({"role": "assistant", "content": request.assistant_prefix})
    return messages


class OpenAIParser:
    def __init__(self) -> None:
        self._sse = SseLines()
        self._finish: str | None = None
        self._prompt_tokens: int | None = None
        self._completion_tokens: int | None = None
        self.done = False

    def feed(self, line: str) -> list[Chunk]:
        if self.done:
            return []
        event = self._sse.feed(line)
        if event is None:
            return []
        _, data = event
        if data.strip() == "[DONE]":
            self.done = True
            return [
                Chunk(
                    finish_reason=self._finish or "stop",
                    prompt_tokens=self._prompt_tokens,
                    completion_tokens=self._completion_tokens,
                )
            ]
        obj = loads_object(data, "stream chunk")
        if "error" in obj:  # some servers report a failure in-band
            raise BackendError(ErrorKind.SERVER, f"error in stream: {error_message(data.encode())}")
        usage = obj.get("usage")
        if isinstance(usage, dict):  # the include_usage chunk (choices: [])
            self._prompt_tokens = usage_int(usage, "prompt_tokens")
            self._completion_tokens = usage_int(usage, "completion_tokens")
        choices = obj.get("choices")
        if not isinstance(choices, list):
            raise BackendError(ErrorKind.MALFORMED, f"stream chunk without choices: {data[:120]!r}")
        out: list[Chunk] = []
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                raise BackendError(ErrorKind.MALFORMED, f"choice without delta: {data[:120]!r}")
            text = delta.get("content")
            if isinstance(text, str) and text:
                out.append(Chunk(text=text))
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                # tool_calls / function_call end the turn like "stop" for a text router
                self._finish = _FINISH.get(reason, "stop")
        return out


class OpenAIBackend(HttpBackend):
    probe_path = "/v1/models"

    def _request_path(self) -> str:
        return "/v1/chat/completions"

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _request_body(self, request: BackendRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": chat_messages(request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def _parser(self, request: BackendRequest) -> OpenAIParser:
        return OpenAIParser()
