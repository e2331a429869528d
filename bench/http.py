"""A minimal asyncio HTTP/1.1 client for the load generator: keep-alive
connections in a pool, a JSON POST whose server-sent-event answer is read as it
arrives (time to first token), and a plain GET. It does much less than httpx,
on purpose: the less CPU the client burns per request, the less it takes from
the servers sharing the machine with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import deque
from typing import Any

from bench.load import CallError, Outcome, now

# A chat.completion.chunk carrying text: `"content":"x…` (not the empty role chunk).
_TOKEN = re.compile(rb'"content":\s*"(?!")')
_DONE_DETAILS = re.compile(rb'"finish_reason":\s*"')


# Servers close idle keep-alive connections (uvicorn after 5 s): reuse only fresher ones.
MAX_IDLE_S = 3.0


class _Conn:
    __slots__ = ("reader", "writer", "idle_since", "reused")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.reused = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class HttpPool:
    """Keep-alive connections to one host:port; one request per connection at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: deque[_Conn] = deque()
        self._host_header = f"{host}:{port}".encode()

    async def _acquire(self) -> _Conn:
        while self._idle:
            conn = self._idle.pop()
            if now() - conn.idle_since < MAX_IDLE_S:
                conn.reused = True
                return conn
            conn.close()
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        return _Conn(reader, writer)

    def _release(self, conn: _Conn, keep: bool) -> None:
        if keep:
            conn.idle_since = now()
            self._idle.append(conn)
        else:
            conn.close()

    async def _send(self, request: bytes) -> tuple[_Conn, int, dict[bytes, bytes]]:
        """Writes `request` and reads the response head; a kept-alive connection
        the server has closed meanwhile is replaced once, as HTTP clients do."""
        conn = await self._acquire()
        try:
            conn.writer.write(request)
            status, head = await self._head(conn.reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn.close()
            if not conn.reused:
                raise
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
            conn = _Conn(reader, writer)
            try:
                conn.writer.write(request)
                status, head = await self._head(conn.reader)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        return conn, status, head

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def _request(self, method: bytes, path: str, body: bytes | None, headers: dict[str, str] | None) -> bytes:
        head = [method + b" " + path.encode() + b" HTTP/1.1", b"host: " + self._host_header]
        if body is not None:
            head.append(b"content-type: application/json")
            head.append(b"content-length: " + str(len(body)).encode())
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}".encode())
        return b"\r\n".join(head) + b"\r\n\r\n" + (body or b"")

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed before the status line")
        status = int(line.split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n"):
                return status, headers
            if not h:
                raise ConnectionError("connection closed in the headers")
            name, _, value = h.partition(b":")
            headers[name.strip().lower()] = value.strip()

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn, status, head = await self._send(self._request(b"GET", path, None, headers))
        keep = False
        try:
            body = await self._body(conn.reader, head)
            keep = head.get(b"connection", b"").lower() != b"close"
            return status, body
        finally:
            self._release(conn, keep)

    async def post_json(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn, status, head = await self._send(self._request(b"POST", path, body, headers))
        keep = False
        try:
            data = await self._body(conn.reader, head)
            keep = head.get(b"connection", b"").lower() != b"close"
            return status, data
        finally:
            self._release(conn, keep)

    @staticmethod
    async def _body(reader: asyncio.StreamReader, head: dict[bytes, bytes]) -> bytes:
        if head.get(b"transfer-encoding", b"").lower() == b"chunked":
            parts = []
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    return b"".join(parts)
                parts.append(await reader.readexactly(size))
                await reader.readline()
        length = head.get(b"content-length")
        if length is not None:
            return await reader.readexactly(int(length))
        return await reader.read()

    async def stream_chat(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Outcome:
        """POSTs an OpenAI chat request with stream=true and reads the SSE answer:
        the time of the first content chunk, the number of content chunks, and the
        router's overhead when the gateway reports it (`switchboard.overhead`)."""
        conn, status, head = await self._send(self._request(b"POST", path, body, headers))
        keep = False
        try:
            reader = conn.reader
            if status != 200:
                await self._body(reader, head)
                keep = True
                raise CallError(f"HTTP {status}")
            if head.get(b"transfer-encoding", b"").lower() != b"chunked":
                raise CallError("stream not chunked")
            out = Outcome()
            buf = b""
            done = False
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                buf += await reader.readexactly(size)
                await reader.readline()
                while True:
                    cut = buf.find(b"\n\n")
                    if cut < 0:
                        break
                    event, buf = buf[:cut], buf[cut + 2 :]
                    if event.startswith(b"data: [DONE]"):
                        done = True
                    elif _TOKEN.search(event):
                        if out.first_token_at is None:
                            out.first_token_at = now()
                        out.tokens += 1
                    elif b'"error"' in event[:40]:
                        raise CallError("in-band error")
                    elif _DONE_DETAILS.search(event):  # the finish chunk: the router's figures, if any
                        if b'"degraded":true' in event.replace(b" ", b""):
                            raise CallError("degraded answer (no backend)")
                        if b'"overhead"' in event:
                            out.reported_overhead_s = _overhead(event)
            keep = head.get(b"connection", b"").lower() != b"close"
            if not done:
                raise CallError("stream ended without [DONE]")
            return out
        finally:
            self._release(conn, keep)


def _overhead(event: bytes) -> float | None:
    try:
        obj: Any = json.loads(event[event.index(b"{") :])
        value = obj["switchboard"]["overhead"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(value, str) and value.endswith("s"):
        return float(value[:-1])
    return None
