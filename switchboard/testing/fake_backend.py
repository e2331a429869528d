"""A fake LLM server on a real socket speaking the three wire formats the router
uses, with fault injection. The backend of every router/gateway/bench test and
of demos; it answers in about a millisecond.

Endpoints:
  OpenAI     POST /v1/chat/completions (stream and not), GET /v1/models
  Ollama     POST /api/chat (NDJSON stream and not), GET /api/tags
  Anthropic  POST /v1/messages (SSE stream and not), GET /v1/models

The answer is deterministic: a fixed `text`, else `tokens` words (default: a
count derived from the prompt) chosen by a hash of the conversation. A request
ending with an assistant turn is a continuation: when that turn is a prefix of
the answer, only the rest is sent, so a stream resumed elsewhere adds up to the
uninterrupted answer.

Faults (`Fault`), from the first that applies:
  1. the request header `x-fake-fault: <spec>`;
  2. a directive `[[fault:<spec>]]` in any message (reaches through router and gateway;
     note a continuation carries it to the next backend too);
  3. the runtime fault set with `set_fault(fault, times=None, probes=False)`.
Spec: `kind[:arg]`, e.g. `http_error:503`, `rate_limit:2`, `reset_before_first_token`,
`reset_after:3`, `stall:2`, `slow:0.05`, `malformed:1`, `missing_end`.

It is a small asyncio HTTP/1.1 server rather than an ASGI app because the
faults live below HTTP: a TCP reset, a connection dropped mid-body, a stall
with the socket open, and noticing the moment the client goes away.

    async with FakeBackend() as fb:
        fb.set_fault("reset_after:3")
        ... fb.url ... fb.requests[-1].assistant_prefix ...

    python -m switchboard.testing.fake_backend --port 9000 [--fault slow:0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import re
import signal
import socket
import struct
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

_TOKEN = re.compile(r"\s*\S+")
_DIRECTIVE = re.compile(r"\[\[fault:([a-z_]+(?::[0-9.]+)?)\]\]")

_VOCAB = (
    "alpha beta gamma delta signal router stream token backend model answer fast steady "
    "river stone cloud garden lamp orbit pixel quartz ember harbor meadow canyon lantern "
    "falcon willow copper marble summit echo prism velvet cedar breeze anchor compass "
    "thunder maple crystal ocean ridge spark tide nimbus coral aspen basil cobalt dune "
    "fern glacier heron iris juniper kelp lotus mesa nectar opal pebble quill raven sage"
).split()


class FaultKind(str, Enum):
    HTTP_ERROR = "http_error"  # arg: status code (default 500)
    RATE_LIMIT = "rate_limit"  # 429; arg: Retry-After seconds (default 1)
    RESET_BEFORE_FIRST_TOKEN = "reset_before_first_token"  # TCP reset before any response byte
    RESET_AFTER = "reset_after"  # arg: tokens sent, then the connection drops mid-body
    STALL = "stall"  # arg: tokens sent, then nothing more; the connection stays open
    SLOW = "slow"  # arg: seconds before each token (default 0.05)
    MALFORMED = "malformed"  # arg: good tokens before an unparseable chunk
    MISSING_END = "missing_end"  # every token and a clean HTTP end, but no end marker


_STREAM_ONLY = {FaultKind.RESET_AFTER, FaultKind.MALFORMED, FaultKind.MISSING_END}


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    after_tokens: int = 0  # reset_after, stall, malformed
    status: int = 500  # http_error
    retry_after_s: float = 1.0  # rate_limit
    delay_s: float = 0.05  # slow

    @classmethod
    def parse(cls, spec: str) -> Fault:
        name, _, arg = spec.strip().partition(":")
        try:
            kind = FaultKind(name)
        except ValueError:
            known = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"unknown fault {name!r} (known: {known})") from None
        if not arg:
            return cls(kind)
        value = float(arg)
        if kind is FaultKind.HTTP_ERROR:
            return cls(kind, status=int(value))
        if kind is FaultKind.RATE_LIMIT:
            return cls(kind, retry_after_s=value)
        if kind is FaultKind.SLOW:
            return cls(kind, delay_s=value)
        return cls(kind, after_tokens=int(value))

    def spec(self) -> str:
        arg = {
            FaultKind.HTTP_ERROR: str(self.status),
            FaultKind.RATE_LIMIT: f"{self.retry_after_s:g}",
            FaultKind.SLOW: f"{self.delay_s:g}",
            FaultKind.RESET_AFTER: str(self.after_tokens),
            FaultKind.STALL: str(self.after_tokens),
            FaultKind.MALFORMED: str(self.after_tokens),
        }.get(self.kind)
        return f"{self.kind.value}:{arg}" if arg is not None else self.kind.value


@dataclass
class ReceivedRequest:
    """One request as the server saw it, and how its response ended."""

    index: int
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    wire: str | None  # "openai" | "ollama" | "anthropic"; None for probes and unknown paths
    stream: bool
    fault: Fault | None
    messages: list[tuple[str, str]]  # (role, content) including system, without the prefix turn
    assistant_prefix: str  # content of a trailing assistant turn ("" if none)
    received_at: float
    peer: tuple[str, int] | None = None  # the client's address: same peer, same (kept-alive) connection
    tokens_sent: int = 0
    completed: bool = False  # the whole response went out
    disconnected: bool = False  # the client closed the connection before the end
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def wait_ended(self, timeout: float = 5.0) -> ReceivedRequest:
        """Until the response finished, the client went away, or the fault ended it."""
        await asyncio.wait_for(self.ended.wait(), timeout)
        return self


def split_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def fake_answer(messages: Iterable[tuple[str, str]], tokens: int | None = None) -> str:
    """The answer the fake gives to a conversation (without a prefix turn)."""
    key = hashlib.sha256(json.dumps(list(messages)).encode()).digest()
    seed = int.from_bytes(key[:8], "big")
    count = tokens if tokens is not None else 8 + seed % 17
    rng = random.Random(seed)
    words = [rng.choice(_VOCAB) for _ in range(max(count, 0))]
    if not words:
        return ""
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks / parts
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _conversation(wire: str, body: dict[str, Any]) -> tuple[list[tuple[str, str]], str]:
    turns: list[tuple[str, str]] = []
    if wire == "anthropic" and body.get("system"):
        turns.append(("system", _content_text(body["system"])))
    for m in body.get("messages") or []:
        if isinstance(m, dict):
            turns.append((str(m.get("role", "")), _content_text(m.get("content"))))
    prefix = ""
    if turns and turns[-1][0] == "assistant":
        prefix = turns.pop()[1]
    return turns, prefix


def _max_tokens(wire: str, body: dict[str, Any]) -> int | None:
    if wire == "ollama":
        options = body.get("options")
        value = options.get("num_predict") if isinstance(options, dict) else None
    else:
        value = body.get("max_completion_tokens", body.get("max_tokens"))
    return value if isinstance(value, int) and value >= 0 else None


class _Plan:
    """What one generation request answers."""

    def __init__(self, answer: str, prefix: str, max_tokens: int | None, prompt_tokens: int) -> None:
        rest = answer
        if prefix:
            for candidate in (prefix, prefix.rstrip()):
                if candidate and answer.startswith(candidate):
                    rest = answer[len(candidate) :]
                    break
        tokens = split_tokens(rest)
        self.finish = "stop"
        if max_tokens is not None and max_tokens < len(tokens):
            tokens = tokens[:max_tokens]
            self.finish = "length"
        self.tokens = tokens
        self.prompt_tokens = prompt_tokens


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class _Wire(ABC):
    """One wire format's bytes."""

    content_type = "text/event-stream"

    def __init__(self, model: str, include_usage: bool = True) -> None:
        self.model = model
        self.include_usage = include_usage
        self.ident = f"fake-{random.getrandbits(40):010x}"
        self.created = int(time.time())

    def head(self, plan: _Plan) -> list[bytes]:
        return []

    @abstractmethod
    def token(self, text: str) -> bytes:
        raise NotImplementedError

    def finish(self, plan: _Plan, sent: int) -> list[bytes]:
        """Everything after the tokens except the end marker."""
        return []

    @abstractmethod
    def end_marker(self, plan: _Plan, sent: int) -> list[bytes]:
        raise NotImplementedError

    @abstractmethod
    def malformed(self) -> bytes:
        raise NotImplementedError

    @abstractmethod
    def error(self, status: int, message: str) -> bytes:
        raise NotImplementedError

    @abstractmethod
    def whole(self, plan: _Plan) -> bytes:
        raise NotImplementedError


class _OpenAI(_Wire):
    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {
            "id": self.ident,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + _dumps(obj) + b"\n\n"

    def head(self, plan: _Plan) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def token(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def finish(self, plan: _Plan, sent: int) -> list[bytes]:
        out = [self._chunk({}, plan.finish)]
        if self.include_usage:
            usage = {
                "id": self.ident,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": {
                    "prompt_tokens": plan.prompt_tokens,
                    "completion_tokens": sent,
                    "total_tokens": plan.prompt_tokens + sent,
                },
            }
            out.append(b"data: " + _dumps(usage) + b"\n\n")
        return out

    def end_marker(self, plan: _Plan, sent: int) -> list[bytes]:
        return [b"data: [DONE]\n\n"]

    def malformed(self) -> bytes:
        return b'data: {"id": "broken", "choices": [{"delta": {"content": "x\n\n'

    def error(self, status: int, message: str) -> bytes:
        kind = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
        return _dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})

    def whole(self, plan: _Plan) -> bytes:
        text = "".join(plan.tokens)
        return _dumps(
            {
                "id": self.ident,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": plan.finish}
                ],
                "usage": {
                    "prompt_tokens": plan.prompt_tokens,
                    "completion_tokens": len(plan.tokens),
                    "total_tokens": plan.prompt_tokens + len(plan.tokens),
                },
            }
        )


class _Ollama(_Wire):
    content_type = "application/x-ndjson"

    def _line(self, content: str, done: bool, **extra: Any) -> bytes:
        obj = {
            "model": self.model,
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": content},
            "done": done,
            **extra,
        }
        return _dumps(obj) + b"\n"

    def token(self, text: str) -> bytes:
        return self._line(text, False)

    def _final(self, plan: _Plan, sent: int, content: str = "") -> bytes:
        return self._line(
            content,
            True,
            done_reason=plan.finish,
            total_duration=1_000_000,
            load_duration=0,
            prompt_eval_count=plan.prompt_tokens,
            eval_count=sent,
        )

    def end_marker(self, plan: _Plan, sent: int) -> list[bytes]:
        return [self._final(plan, sent)]  # the `"done": true` line

    def malformed(self) -> bytes:
        return b'{"model": "fake", "message": {"content": oops\n'

    def error(self, status: int, message: str) -> bytes:
        return _dumps({"error": message})

    def whole(self, plan: _Plan) -> bytes:
        return self._final(plan, len(plan.tokens), "".join(plan.tokens)).rstrip(b"\n")


class _Anthropic(_Wire):
    def _event(self, name: str, obj: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + _dumps(obj) + b"\n\n"

    def head(self, plan: _Plan) -> list[bytes]:
        message = {
            "id": f"msg_{self.ident}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": plan.prompt_tokens, "output_tokens": 1},
        }
        return [
            self._event("message_start", {"type": "message_start", "message": message}),
            self._event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            self._event("ping", {"type": "ping"}),
        ]

    def token(self, text: str) -> bytes:
        return self._event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        )

    @staticmethod
    def _stop_reason(plan: _Plan) -> str:
        return "max_tokens" if plan.finish == "length" else "end_turn"

    def finish(self, plan: _Plan, sent: int) -> list[bytes]:
        return [
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop_reason(plan), "stop_sequence": None},
                    "usage": {"output_tokens": sent},
                },
            ),
        ]

    def end_marker(self, plan: _Plan, sent: int) -> list[bytes]:
        return [self._event("message_stop", {"type": "message_stop"})]

    def malformed(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {oops\n\n'

    def error(self, status: int, message: str) -> bytes:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return _dumps({"type": "error", "error": {"type": kind, "message": message}})

    def whole(self, plan: _Plan) -> bytes:
        return _dumps(
            {
                "id": f"msg_{self.ident}",
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [{"type": "text", "text": "".join(plan.tokens)}],
                "stop_reason": self._stop_reason(plan),
                "stop_sequence": None,
                "usage": {"input_tokens": plan.prompt_tokens, "output_tokens": len(plan.tokens)},
            }
        )


_WIRES: dict[str, type[_Wire]] = {"openai": _OpenAI, "ollama": _Ollama, "anthropic": _Anthropic}
_GENERATE = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/api/chat": "ollama",
    "/v1/messages": "anthropic",
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    529: "Overloaded",
}


class FakeBackend:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "fake-model",
        tokens: int | None = None,
        text: str | None = None,
        token_delay_s: float = 0.0,
        max_recorded: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.model = model
        self.tokens = tokens  # answer length in tokens; None: derived from the prompt
        self.text = text  # a fixed answer instead
        self.token_delay_s = token_delay_s  # before every token, for every request
        self.requests: deque[ReceivedRequest] = deque(maxlen=max_recorded)
        self._count = 0
        self._fault: Fault | None = None
        self._fault_times: int | None = None
        self._fault_probes = False
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = False

    # -- lifecycle --
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeBackend:
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, reuse_address=True, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        # Aborting the connections ends every handler (reads see the end,
        # waits for a disconnect see it); cancel only what is left after that.
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self._stopping = False

    async def __aenter__(self) -> FakeBackend:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- control --
    def set_fault(self, fault: Fault | FaultKind | str | None, *, times: int | None = None, probes: bool = False) -> None:
        """Applies `fault` to the next `times` generation requests (None: until
        changed); with probes=True, probes (GET models/tags) get it too."""
        if isinstance(fault, str) and not isinstance(fault, FaultKind):
            fault = Fault.parse(fault)
        elif isinstance(fault, FaultKind):
            fault = Fault(fault)
        self._fault, self._fault_times, self._fault_probes = fault, times, probes

    def clear_fault(self) -> None:
        self.set_fault(None)

    def clear_requests(self) -> None:
        self.requests.clear()

    def answer_for(self, messages: Iterable[tuple[str, str]]) -> str:
        """The full answer this server gives to a conversation."""
        return self.text if self.text is not None else fake_answer(messages, self.tokens)

    def _take_fault(self, probe: bool) -> Fault | None:
        if self._fault is None or (probe and not self._fault_probes):
            return None
        fault = self._fault
        if self._fault_times is not None:
            self._fault_times -= 1
            if self._fault_times <= 0:
                self._fault, self._fault_times = None, None
        return fault

    # -- HTTP --
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                method, path, headers, raw = request
                keep = await self._respond(method, path, headers, raw, reader, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            return  # stop() cancelled us; ending quietly keeps asyncio from logging it
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
        line = await reader.readline()
        while line in (b"\r\n", b"\n"):
            line = await reader.readline()
        if not line:
            return None
        method, target, _version = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                body += await reader.readexactly(size)
                await reader.readline()
        elif headers.get("content-length"):
            body = await reader.readexactly(int(headers["content-length"]))
        if "://" in target:  # absolute-form, as sent to a proxy (RFC 9112 3.2.2): the path is what routes
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        return method.upper(), target.split("?", 1)[0], headers, body

    @staticmethod
    def _simple(
        writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str = "application/json", extra: str = ""
    ) -> None:
        reason = _REASONS.get(status, "Error")
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode()
            + body
        )

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        """A TCP reset: linger 0 then close sends RST instead of FIN."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _respond(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        wire = _GENERATE.get(path) if method == "POST" else None
        probe = method == "GET" and path in ("/v1/models", "/models", "/api/tags")
        stream = False
        messages: list[tuple[str, str]] = []
        prefix = ""
        if wire is not None and isinstance(body, dict):
            messages, prefix = _conversation(wire, body)
            stream = bool(body.get("stream", wire == "ollama"))
        try:
            fault = self._fault_for(headers, messages, probe)
        except ValueError as exc:
            self._simple(writer, 400, _dumps({"error": {"message": f"x-fake-fault: {exc}"}}))
            return True
        self._count += 1
        rec = ReceivedRequest(
            index=self._count - 1,
            method=method,
            path=path,
            headers=headers,
            body=body,
            wire=wire,
            stream=stream,
            fault=fault,
            messages=messages,
            assistant_prefix=prefix,
            received_at=time.monotonic(),
            peer=tuple(writer.get_extra_info("peername") or ())[:2] or None,  # type: ignore[arg-type]
        )
        self.requests.append(rec)
        try:
            if probe:
                return await self._probe(rec, writer, reader, path)
            if wire is None:
                self._simple(writer, 404, _dumps({"error": {"message": f"no route {method} {path}"}}))
                rec.completed = True
                return True
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                self._simple(writer, 400, _WIRES[wire](self.model).error(400, "body must be JSON with messages"))
                rec.completed = True
                return True
            return await self._generate(rec, wire, body, reader, writer)
        finally:
            rec.ended.set()

    def _fault_for(self, headers: dict[str, str], messages: list[tuple[str, str]], probe: bool) -> Fault | None:
        spec = headers.get("x-fake-fault")
        if spec:
            return Fault.parse(spec)
        if not probe:
            for _, content in messages:
                if "[[fault:" in content:
                    match = _DIRECTIVE.search(content)
                    if match:
                        return Fault.parse(match.group(1))
        return self._take_fault(probe)

    async def _error_faults(self, rec: ReceivedRequest, wire: _Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool | None:
        """Faults that replace the response; None when there is none."""
        fault = rec.fault
        if fault is None:
            return None
        if fault.kind is FaultKind.HTTP_ERROR:
            self._simple(writer, fault.status, wire.error(fault.status, f"fake HTTP {fault.status}"))
            rec.completed = True
            return True
        if fault.kind is FaultKind.RATE_LIMIT:
            after = fault.retry_after_s
            shown = str(int(after)) if after == int(after) else f"{after:g}"
            self._simple(writer, 429, wire.error(429, "fake rate limit"), extra=f"retry-after: {shown}\r\n")
            rec.completed = True
            return True
        if fault.kind is FaultKind.RESET_BEFORE_FIRST_TOKEN:
            self._reset(writer)
            return False
        return None

    async def _probe(self, rec: ReceivedRequest, writer: asyncio.StreamWriter, reader: asyncio.StreamReader, path: str) -> bool:
        wire = _OpenAI(self.model)
        handled = await self._error_faults(rec, wire, reader, writer)
        if handled is not None:
            return handled
        if rec.fault is not None and rec.fault.kind is FaultKind.STALL:
            await self._until_gone(rec, reader, None)
            return False
        if rec.fault is not None and rec.fault.kind is FaultKind.SLOW:
            if await self._until_gone(rec, reader, rec.fault.delay_s):
                return False
        if path == "/api/tags":
            payload = {"models": [{"name": self.model, "model": self.model, "size": 0, "digest": "fake", "details": {}}]}
        else:  # one body that reads as OpenAI's list and Anthropic's page
            payload = {
                "object": "list",
                "data": [
                    {
                        "id": self.model,
                        "object": "model",
                        "type": "model",
                        "created": 0,
                        "owned_by": "fake",
                        "display_name": self.model,
                        "created_at": "2026-01-01T00:00:00Z",
                    }
                ],
                "has_more": False,
                "first_id": self.model,
                "last_id": self.model,
            }
        self._simple(writer, 200, _dumps(payload))
        rec.completed = True
        return True

    async def _until_gone(self, rec: ReceivedRequest, reader: asyncio.StreamReader, seconds: float | None) -> bool:
        """Waits `seconds` (None: forever); True if the client went away meanwhile."""
        watcher = asyncio.ensure_future(reader.read(1))
        try:
            done, _ = await asyncio.wait({watcher}, timeout=seconds)
        finally:
            if not watcher.done():
                watcher.cancel()
        if done:
            rec.disconnected = True
            return True
        return False

    async def _generate(
        self, rec: ReceivedRequest, wire_name: str, body: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        options = body.get("stream_options")
        include_usage = not (wire_name == "openai" and not (isinstance(options, dict) and options.get("include_usage")))
        wire = _WIRES[wire_name](str(body.get("model") or self.model), include_usage=include_usage)
        handled = await self._error_faults(rec, wire, reader, writer)
        if handled is not None:
            return handled
        answer = self.answer_for(rec.messages)
        prompt_tokens = sum(len(content.split()) for _, content in rec.messages)
        plan = _Plan(answer, rec.assistant_prefix, _max_tokens(wire_name, body), prompt_tokens)
        if not rec.stream:
            return await self._whole(rec, wire, plan, reader, writer)
        return await self._stream(rec, wire, plan, reader, writer)

    async def _whole(self, rec: ReceivedRequest, wire: _Wire, plan: _Plan, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        fault = rec.fault
        kind = fault.kind if fault else None
        if kind is FaultKind.STALL:
            await self._until_gone(rec, reader, None)
            return False
        if kind is FaultKind.RESET_AFTER:
            self._reset(writer)
            return False
        delay = (fault.delay_s if kind is FaultKind.SLOW else self.token_delay_s) * len(plan.tokens)
        if delay and await self._until_gone(rec, reader, delay):
            return False
        payload = wire.whole(plan)
        if kind is FaultKind.MALFORMED:
            payload = payload[: len(payload) // 2]
        elif kind is FaultKind.MISSING_END:
            payload = payload[:-1]
        self._simple(writer, 200, payload, "application/json")
        rec.tokens_sent = len(plan.tokens)
        rec.completed = True
        return True

    async def _stream(self, rec: ReceivedRequest, wire: _Wire, plan: _Plan, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        fault = rec.fault
        kind = fault.kind if fault else None
        delay = fault.delay_s if kind is FaultKind.SLOW else self.token_delay_s
        cut = fault.after_tokens if kind in (FaultKind.RESET_AFTER, FaultKind.STALL, FaultKind.MALFORMED) else None

        def chunk(data: bytes) -> None:
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))

        writer.write(
            f"HTTP/1.1 200 OK\r\ncontent-type: {wire.content_type}\r\ncache-control: no-cache\r\n"
            "transfer-encoding: chunked\r\n\r\n".encode()
        )
        for data in wire.head(plan):
            chunk(data)
        watcher = asyncio.ensure_future(reader.read(1)) if delay > 0 or cut is not None else None
        try:
            for i in range(len(plan.tokens) + 1):
                if cut is not None and i == cut:
                    return await self._cut(rec, wire, writer, watcher, chunk)
                if i == len(plan.tokens):
                    break
                if delay > 0:
                    await writer.drain()
                    assert watcher is not None
                    done, _ = await asyncio.wait({watcher}, timeout=delay)
                    if done:
                        rec.disconnected = True
                        return False
                chunk(wire.token(plan.tokens[i]))
                rec.tokens_sent += 1
            tail = wire.finish(plan, rec.tokens_sent)
            if kind is not FaultKind.MISSING_END:
                tail += wire.end_marker(plan, rec.tokens_sent)
            for data in tail:
                chunk(data)
            writer.write(b"0\r\n\r\n")
            try:
                await writer.drain()
            except ConnectionError:
                rec.disconnected = True
                return False
            rec.completed = True
            return True
        except ConnectionError:
            rec.disconnected = True
            return False
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()

    async def _cut(self, rec: ReceivedRequest, wire: _Wire, writer: asyncio.StreamWriter, watcher: asyncio.Future[bytes] | None, chunk: Any) -> bool:
        assert rec.fault is not None and watcher is not None
        kind = rec.fault.kind
        if kind is FaultKind.MALFORMED:
            chunk(wire.malformed())
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            rec.completed = True
            return True
        await writer.drain()
        if kind is FaultKind.RESET_AFTER:
            # Drop the connection mid-body (FIN after the data, so the client
            # reads every token sent first, then finds the body truncated).
            writer.close()
            return False
        # STALL: keep the connection open, send nothing, until the client leaves.
        await asyncio.wait({watcher})
        rec.disconnected = True
        return False


async def _main(args: argparse.Namespace) -> None:
    fb = FakeBackend(host=args.host, port=args.port, model=args.model, tokens=args.tokens, token_delay_s=args.token_delay)
    if args.fault:
        fb.set_fault(args.fault, probes=args.fault_probes)
    await fb.start()
    print(f"fake backend listening on {fb.url} (model {fb.model})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fb.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake LLM backend (OpenAI, Ollama and Anthropic wire formats).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--tokens", type=int, default=None, help="answer length (default: derived from the prompt)")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds before each token")
    parser.add_argument("--fault", default=None, help="a fault spec for every request, e.g. slow:0.1")
    parser.add_argument("--fault-probes", action="store_true", help="apply --fault to probes too")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
