"""What every backend adapter is to the router: requests, chunks, errors, and
the shared machinery of the HTTP adapters (timeouts, error mapping, closing).

An adapter's `stream` is an async generator of `Chunk`s. Its last chunk carries
`finish_reason` (and usage when the backend reports it); a stream that ends any
other way raises `BackendError` — never a raw aiohttp error, never a silent end.
"""

from __future__ import annotations

import asyncio
import enum
import json
import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError

from services.router.backends.client import (
    TRANSPORT_ERRORS,
    BackendClient,
    PoolExhausted,
)
from services.router.backends.lines import BodyLines
from switchboard.runtime.clock import Clock

if TYPE_CHECKING:
    from services.router.backends.config import BackendConfig

ROLES = ("system", "user", "assistant")
FINISH_REASONS = ("stop", "length", "content_filter")


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class BackendRequest:
    messages: tuple[ChatTurn, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    # Continuation: text already produced (by another backend); the backend
    # must continue after it. Its chunks carry only the new text.
    assistant_prefix: str = ""


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    finish_reason: str | None = None  # "stop" | "length" | "content_filter"; set on the last chunk
    prompt_tokens: int | None = None  # usage when the backend reports it (on the last chunk)
    completion_tokens: int | None = None
    pieces: int = 1  # the backend's text events merged into this one (a token estimate without usage)


def merge_text(chunks: list[Chunk]) -> list[Chunk]:
    """Adjacent text-only chunks as one (their pieces counted); the others,
    and the order, unchanged. Every chunk costs the router a trip through the
    chain, the relay and the caller's stream, so a network read that brought
    many tokens (a fast backend, or a busy router reading late) goes on as one."""
    out: list[Chunk] = []
    for chunk in chunks:
        if out and _text_only(out[-1]) and _text_only(chunk):
            out[-1] = Chunk(text=out[-1].text + chunk.text, pieces=out[-1].pieces + chunk.pieces)
        else:
            out.append(chunk)
    return out


def _text_only(chunk: Chunk) -> bool:
    return (bool(chunk.text) and chunk.finish_reason is None and chunk.prompt_tokens is None
            and chunk.completion_tokens is None)


class ErrorKind(enum.Enum):
    CONNECTION = "connection"  # refused, reset, DNS, dropped mid-stream
    SERVER = "server"  # HTTP 5xx or an error event from the backend
    RATE_LIMITED = "rate_limited"  # HTTP 429
    TIMEOUT = "timeout"  # connect, first token, gap between tokens, total
    MALFORMED = "malformed"  # unparseable chunk, or a stream without its end marker
    CLIENT = "client"  # HTTP 4xx other than 429 (bad key, unknown model, bad request)
    # The router's own connection pool had no free connection in time: the
    # request never reached the backend, so this is local overload, never the
    # backend's failure (the chain neither trips its breaker nor tells learning).
    POOL_EXHAUSTED = "pool_exhausted"


class DeadlineReached(Exception):
    """The caller's deadline, given to `Backend.stream`, arrived while waiting on the
    backend: not the backend's failure."""


class BackendError(Exception):
    """A backend call failed; `kind` says how (the router's fallback decides on it)."""

    def __init__(
        self,
        kind: ErrorKind,
        detail: str,
        *,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail
        self.status_code = status_code
        self.retry_after_s = retry_after_s


@runtime_checkable
class Backend(Protocol):
    config: BackendConfig

    @property
    def supports_continuation(self) -> bool: ...

    def stream(self, request: BackendRequest, *, deadline: float | None = None) -> AsyncIterator[Chunk]:
        """Async generator of chunks; raises BackendError, or DeadlineReached once
        the event loop's clock reaches `deadline` (the caller's) while waiting.
        Closing it (aclose, cancellation) closes the upstream HTTP response promptly."""
        ...

    async def probe(self) -> None:
        """Cheap, token-free health check; raises BackendError."""
        ...

    async def aclose(self) -> None: ...


# --- shared helpers for the HTTP adapters ---------------------------------------------


def join_url(base_url: str, path: str) -> str:
    """base + path, tolerating a base that already ends in /v1 (as OpenAI SDK
    users write it) so /v1 is not doubled."""
    base = base_url.rstrip("/")
    if base.endswith("/v1") and path.startswith("/v1/"):
        base = base[: -len("/v1")]
    return base + path


def parse_retry_after(headers: Mapping[str, str], clock: Clock) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `Retry-After`
    (seconds or an HTTP date); None when absent or unreadable. `headers` looks
    names up case-insensitively (a response's CIMultiDictProxy does)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (when - clock.now()).total_seconds())


def error_message(body: bytes) -> str:
    """The human part of an error body in any of the three wire formats."""
    text = body.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, str):
            return err[:300]
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            kind = err.get("type")
            return f"{kind}: {err['message']}"[:300] if isinstance(kind, str) else err["message"][:300]
    return text[:300]


def status_error(status: int, detail: str, retry_after_s: float | None = None) -> BackendError:
    if status == 429:
        return BackendError(ErrorKind.RATE_LIMITED, detail, status_code=status, retry_after_s=retry_after_s)
    if status == 408:  # the server gave up waiting: a timeout, not the caller's fault
        return BackendError(ErrorKind.TIMEOUT, detail, status_code=status)
    if status >= 500:
        return BackendError(ErrorKind.SERVER, detail, status_code=status, retry_after_s=retry_after_s)
    return BackendError(ErrorKind.CLIENT, detail, status_code=status)


def transport_error(exc: BaseException, where: str) -> BackendError:
    """An aiohttp/OS error (or PoolExhausted) as a BackendError; `where` says
    what we were doing."""
    name = type(exc).__name__
    text = f"{where}: {name}: {exc}".rstrip(": ")
    if isinstance(exc, PoolExhausted):
        return BackendError(ErrorKind.POOL_EXHAUSTED, f"router connection pool exhausted ({where})")
    if isinstance(exc, aiohttp.ServerTimeoutError):  # connect (or socket) timeout
        return BackendError(ErrorKind.TIMEOUT, text)
    if isinstance(exc, ContentEncodingError) or isinstance(exc.__cause__, ContentEncodingError):
        # A body that does not decompress (aiohttp wraps it in ClientPayloadError).
        return BackendError(ErrorKind.MALFORMED, text)
    if isinstance(exc, aiohttp.InvalidURL):  # also a non-HTTP scheme
        return BackendError(ErrorKind.CLIENT, text)
    # ClientConnectorError, ServerDisconnectedError, ClientPayloadError (peer
    # closed mid-body), an unparseable response, plain OSError: the connection failed.
    return BackendError(ErrorKind.CONNECTION, text)


def _deadline_hit(exc: BaseException) -> bool:
    """One of our own deadlines (asyncio.timeout) fired. TimeoutError is an
    OSError, and aiohttp's connect timeout is a TimeoutError too: that one is a
    transport error."""
    return isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ServerTimeoutError)


class _Deadlines:
    """Per-stream deadlines on the event loop's clock: real I/O, real time. The
    caller's deadline is among them, so one timer per network read covers all."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeouts: Any, caller: float | None) -> None:
        self.loop = loop
        self.timeouts = timeouts
        start = loop.time()
        self.total = start + timeouts.total_s
        self.progress = start + timeouts.first_token_s
        self.caller = caller if caller is not None else float("inf")
        self.got_token = False

    def token(self) -> None:
        self.got_token = True
        self.progress = self.loop.time() + self.timeouts.between_tokens_s

    def next(self) -> float:
        return min(self.total, self.progress, self.caller)

    def expired(self) -> BackendError | DeadlineReached:
        t = self.timeouts
        if self.caller <= min(self.total, self.progress):
            return DeadlineReached()
        if self.total <= self.progress:
            what = f"total time limit of {t.total_s:g}s exceeded"
        elif self.got_token:
            what = f"no token for {t.between_tokens_s:g}s (gap between tokens)"
        else:
            what = f"no first token within {t.first_token_s:g}s"
        return BackendError(ErrorKind.TIMEOUT, what)


class StreamParser(Protocol):
    """A wire format's incremental parser: lines in, chunks out."""

    def feed(self, line: str) -> list[Chunk]:
        """Chunks for one line; raises BackendError(MALFORMED/SERVER/...)."""
        ...

    @property
    def done(self) -> bool:
        """True once the end marker arrived; the last chunk has been returned."""
        ...


class HttpBackend(ABC):
    """The shared part of the HTTP adapters: send, map status, read lines under
    the timeouts, close promptly. Subclasses say what to send and how to parse."""

    probe_path = "/v1/models"
    stream_content_type = "text/event-stream"
    supports_continuation = True

    def __init__(
        self, config: BackendConfig, client: BackendClient, clock: Clock, api_key: str | None
    ) -> None:
        self.config = config
        self._client = client
        self._clock = clock
        self._api_key = api_key

    # -- what subclasses provide --
    @abstractmethod
    def _request_body(self, request: BackendRequest) -> dict[str, Any]:
        raise NotImplementedError

    @abstractmethod
    def _request_path(self) -> str:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        """Authentication and version headers, sent on streams and probes."""
        return {}

    @abstractmethod
    def _parser(self, request: BackendRequest) -> StreamParser:
        raise NotImplementedError

    # -- the shared machinery --
    async def stream(self, request: BackendRequest, *, deadline: float | None = None) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        deadlines = _Deadlines(loop, self.config.timeouts, deadline)
        url = join_url(self.config.base_url, self._request_path())
        body = self._request_body(request)
        headers = {**self._headers(), "accept": self.stream_content_type}
        try:
            # The wait for a pooled connection is the client's (a router setting):
            # it is local overload, not this backend's connect time.
            async with asyncio.timeout_at(deadlines.next()):
                response = await self._client.send(
                    "POST", url, headers=headers, json_body=body, connect_s=self.config.timeouts.connect_s
                )
        except TRANSPORT_ERRORS as exc:
            raise (deadlines.expired() if _deadline_hit(exc) else transport_error(exc, "sending the request")) from None
        try:
            if response.status >= 300:
                raise await self._status_error(response, deadlines)
            parser = self._parser(request)
            lines = BodyLines(response.charset)
            content = response.content
            while True:
                # One timeout per network read, not per line: a read usually
                # brings many lines (see lines.py).
                async with asyncio.timeout_at(deadlines.next()):
                    data = await content.readany()
                if data:
                    ready, ended = lines.feed(data), False
                else:
                    ready, ended = lines.end(), True
                batch: list[Chunk] = []
                failure: Exception | None = None
                try:
                    for line in ready:
                        batch += parser.feed(line)
                        if parser.done:
                            break
                except Exception as exc:  # noqa: BLE001  (raised after the text before it in this read)
                    failure = exc
                merged = merge_text(batch)
                # The final chunk waits for the body's end (below); the text before it does not.
                ahead, final = (merged[:-1], merged[-1:]) if parser.done else (merged, [])
                for chunk in ahead:
                    yield chunk
                    if chunk.text:
                        # The gap is measured from when the consumer asks for
                        # more, so a slow consumer is not blamed on the backend.
                        deadlines.token()
                if failure is not None:
                    raise failure
                if parser.done:
                    # Read the body's end before handing over the final chunk,
                    # so the connection goes back to the pool.
                    await self._drain(content, deadlines)
                    for chunk in final:
                        yield chunk
                    return
                if ended:
                    raise BackendError(ErrorKind.MALFORMED, "stream ended without its end marker (truncated)")
        except TRANSPORT_ERRORS as exc:
            raise (deadlines.expired() if _deadline_hit(exc) else transport_error(exc, "reading the stream")) from None
        finally:
            # On aclose/cancellation too: closes the upstream connection now
            # (an unfinished body is never returned to the pool).
            self._client.finish(response)

    async def _drain(self, content: aiohttp.StreamReader, deadlines: _Deadlines) -> None:
        try:
            async with asyncio.timeout_at(deadlines.next()):
                while await content.readany():
                    pass
        except TRANSPORT_ERRORS:  # TimeoutError included
            pass  # the answer is complete; the connection just won't be reused

    async def _status_error(self, response: aiohttp.ClientResponse, deadlines: _Deadlines) -> BackendError:
        body = b""
        try:
            async with asyncio.timeout_at(deadlines.next()):
                while part := await response.content.readany():
                    body += part
                    if len(body) > 8192:
                        break
        except TRANSPORT_ERRORS:  # TimeoutError included
            pass
        detail = f"HTTP {response.status}"
        message = error_message(body)
        if message:
            detail += f": {message}"
        return status_error(response.status, detail, parse_retry_after(response.headers, self._clock))

    async def probe(self) -> None:
        t = self.config.timeouts
        try:
            async with asyncio.timeout(t.connect_s + t.first_token_s):
                status, headers, body = await self._client.fetch(
                    join_url(self.config.base_url, self.probe_path), headers=self._headers(), connect_s=t.connect_s
                )
        except TRANSPORT_ERRORS as exc:
            if not _deadline_hit(exc):
                raise transport_error(exc, "probe") from None
            raise BackendError(ErrorKind.TIMEOUT, f"probe got no answer within {t.connect_s + t.first_token_s:g}s") from None
        if status >= 300:
            detail = f"probe: HTTP {status}"
            message = error_message(body)
            raise status_error(status, f"{detail}: {message}" if message else detail, parse_retry_after(headers, self._clock))
        try:
            json.loads(body)
        except ValueError:
            raise BackendError(ErrorKind.MALFORMED, "probe: the answer is not JSON") from None

    async def aclose(self) -> None:
        # The shared client belongs to whoever created it.
        return None


def loads_object(text: str, what: str) -> dict[str, Any]:
    """A JSON object from one chunk, or MALFORMED."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise BackendError(ErrorKind.MALFORMED, f"unparseable {what}: {text[:120]!r}") from None
    if not isinstance(obj, dict):
        raise BackendError(ErrorKind.MALFORMED, f"{what} is not a JSON object: {text[:120]!r}")
    return obj


class SseLines:
    """Server-sent events from lines: `feed` returns (event, data) when a blank
    line ends an event. Comments (`:`) and other fields are ignored."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        if not line:
            if not self._data and not self._event:
                return None
            event, data = self._event, "\n".join(self._data)
            self._event, self._data = "", []
            return event, data
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        return None


def roles_ok(messages: tuple[ChatTurn, ...]) -> None:
    """Roles the adapters understand; the router validates earlier, this guards."""
    for turn in messages:
        if turn.role not in ROLES:
            raise BackendError(ErrorKind.CLIENT, f"unknown role {turn.role!r}")


def usage_int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
