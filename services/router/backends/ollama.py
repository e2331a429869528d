"""Ollama's native chat API: POST /api/chat, one JSON object a line (NDJSON),
the last with `"done": true` (and the token counts).

Continuation: the partial answer goes as a final assistant message; Ollama
continues a trailing assistant message for models whose template allows it
(best-effort, as with the OpenAI-compatible adapter).
"""

from __future__ import annotations

from typing import Any

from services.router.backends.base import (
    BackendError,
    BackendRequest,
    Chunk,
    ErrorKind,
    HttpBackend,
    loads_object,
    usage_int,
)
from services.router.backends.openai import chat_messages

_FINISH = {"stop": "stop", "length": "length"}


class OllamaParser:
    def __init__(self) -> None:
        self.done = False

    def feed(self, line: str) -> list[Chunk]:
        if self.done or not line.strip():
            return []
        obj = loads_object(line, "stream line")
        if "error" in obj:  # Ollama reports failures mid-stream this way
            raise BackendError(ErrorKind.SERVER, f"error in stream: {str(obj['error'])[:300]}")
        message = obj.get("message")
        done = obj.get("done")
        if not isinstance(done, bool) or (message is not None and not isinstance(message, dict)):
            raise BackendError(ErrorKind.MALFORMED, f"unexpected stream line: {line[:120]!r}")
        text = message.get("content") if message else None
        out: list[Chunk] = []
        if isinstance(text, str) and text:
            out.append(Chunk(text=text))
        if done:
            self.done = True
            reason = obj.get("done_reason")
            out.append(
                Chunk(
                    finish_reason=_FINISH.get(reason, "stop") if isinstance(reason, str) else "stop",
                    prompt_tokens=usage_int(obj, "prompt_eval_count"),
                    completion_tokens=usage_int(obj, "eval_count"),
                )
            )
        return out


class OllamaBackend(HttpBackend):
    probe_path = "/api/tags"
    stream_content_type = "application/x-ndjson"

    def _request_path(self) -> str:
        return "/api/chat"

    def _headers(self) -> dict[str, str]:
        # Ollama itself takes no key; one behind an authenticating proxy may.
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _request_body(self, request: BackendRequest) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": chat_messages(request),
            "stream": True,
        }
        if options:
            body["options"] = options
        return body

    def _parser(self, request: BackendRequest) -> OllamaParser:
        return OllamaParser()
