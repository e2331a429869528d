"""A small asyncio TCP proxy for fault injection in tests and demos.

Put it between a client and a real server (PostgreSQL, Redis, a backend) and
switch the link off and on without touching the server, which other tests may
share:

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/db"
        ...
        await proxy.down()   # open connections are cut; new ones are refused
        await proxy.up()     # connections go through again

While down the proxy keeps its port (no other process can take it) and closes
every new connection at once, which clients see as the server going away.

Toxics (after Toxiproxy) degrade the link instead of cutting it. Each applies to
one direction — DOWNSTREAM (server → client, the default), UPSTREAM (client →
server) or BOTH — to open and new connections alike, until removed:

    name = proxy.add_toxic(Toxic.latency(0.2, jitter_s=0.05))
    proxy.add_toxic(Toxic.bandwidth(10_000))          # bytes per second
    proxy.add_toxic(Toxic.slicer(16, delay_s=0.01))   # many small writes
    proxy.add_toxic(Toxic.limit_data(1000))           # close after 1000 bytes
    proxy.add_toxic(Toxic.reset(0.5))                 # TCP RST 0.5 s later
    proxy.add_toxic(Toxic.timeout(0))                 # stall: data dropped, link open
    proxy.add_toxic(Toxic.timeout(2.0))               # stall, then close after 2 s
    proxy.remove_toxic(name); proxy.clear_toxics()
    async with proxy.toxic(Toxic.timeout(0)): ...     # for the block only

Counting (limit_data) and timers (reset, timeout) are per connection and per
toxic, and start when the toxic first applies to that connection (when it is
added, or when the connection opens). `toxicity` is the chance that a toxic
applies to a given connection (drawn once per connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType

log = logging.getLogger("switchboard.testing.tcp_proxy")

_BUFFER = 64 * 1024


class Direction(str, Enum):
    UPSTREAM = "upstream"  # client → server
    DOWNSTREAM = "downstream"  # server → client
    BOTH = "both"

    def covers(self, direction: Direction) -> bool:
        return self is Direction.BOTH or self is direction


class ToxicKind(str, Enum):
    LATENCY = "latency"  # every chunk waits latency_s ± jitter_s
    BANDWIDTH = "bandwidth"  # at most rate_bytes_per_s
    SLICER = "slicer"  # chunks cut to ~slice_bytes, delay_s between slices
    LIMIT_DATA = "limit_data"  # the connection closes once limit_bytes went through
    RESET = "reset"  # TCP RST timeout_s after the toxic applies
    TIMEOUT = "timeout"  # data dropped; the connection closes after timeout_s (0: stays open)


@dataclass(frozen=True)
class Toxic:
    kind: ToxicKind
    direction: Direction = Direction.DOWNSTREAM
    latency_s: float = 0.0
    jitter_s: float = 0.0
    rate_bytes_per_s: float = 0.0
    slice_bytes: int = 0
    size_variation: int = 0
    delay_s: float = 0.0
    limit_bytes: int = 0
    timeout_s: float = 0.0
    toxicity: float = 1.0  # chance (0..1) the toxic applies to a connection
    name: str = ""  # default: kind and a number

    def __post_init__(self) -> None:
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError("toxicity must be within 0..1")
        if min(self.latency_s, self.jitter_s, self.delay_s, self.timeout_s, self.rate_bytes_per_s) < 0:
            raise ValueError("durations and rates must be >= 0")
        if self.kind is ToxicKind.BANDWIDTH and self.rate_bytes_per_s <= 0:
            raise ValueError("bandwidth needs rate_bytes_per_s > 0")
        if self.kind is ToxicKind.SLICER and self.slice_bytes < 1:
            raise ValueError("slicer needs slice_bytes >= 1")
        if self.kind is ToxicKind.LIMIT_DATA and self.limit_bytes < 0:
            raise ValueError("limit_data needs limit_bytes >= 0")

    @classmethod
    def latency(cls, latency_s: float, *, jitter_s: float = 0.0, direction: Direction = Direction.DOWNSTREAM,
                toxicity: float = 1.0, name: str = "") -> Toxic:
        return cls(ToxicKind.LATENCY, direction, latency_s=latency_s, jitter_s=jitter_s, toxicity=toxicity, name=name)

    @classmethod
    def bandwidth(cls, rate_bytes_per_s: float, *, direction: Direction = Direction.DOWNSTREAM,
                  toxicity: float = 1.0, name: str = "") -> Toxic:
        return cls(ToxicKind.BANDWIDTH, direction, rate_bytes_per_s=rate_bytes_per_s, toxicity=toxicity, name=name)

    @classmethod
    def slicer(cls, slice_bytes: int, *, size_variation: int = 0, delay_s: float = 0.0,
               direction: Direction = Direction.DOWNSTREAM, toxicity: float = 1.0, name: str = "") -> Toxic:
        return cls(ToxicKind.SLICER, direction, slice_bytes=slice_bytes, size_variation=size_variation,
                   delay_s=delay_s, toxicity=toxicity, name=name)

    @classmethod
    def limit_data(cls, limit_bytes: int, *, direction: Direction = Direction.DOWNSTREAM,
                   toxicity: float = 1.0, name: str = "") -> Toxic:
        return cls(ToxicKind.LIMIT_DATA, direction, limit_bytes=limit_bytes, toxicity=toxicity, name=name)

    @classmethod
    def reset(cls, timeout_s: float = 0.0, *, direction: Direction = Direction.BOTH,
              toxicity: float = 1.0, name: str = "") -> Toxic:
        return cls(ToxicKind.RESET, direction, timeout_s=timeout_s, toxicity=toxicity, name=name)

    @classmethod
    def timeout(cls, timeout_s: float = 0.0, *, direction: Direction = Direction.BOTH,
                toxicity: float = 1.0, name: str = "") -> Toxic:
        return cls(ToxicKind.TIMEOUT, direction, timeout_s=timeout_s, toxicity=toxicity, name=name)


_TIMED = (ToxicKind.RESET, ToxicKind.TIMEOUT)


@dataclass(eq=False)
class _Link:
    """One proxied connection: both writers, and per-toxic state."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    applies: dict[str, bool] = field(default_factory=dict)  # toxic name → drawn against toxicity
    sent: dict[tuple[str, Direction], int] = field(default_factory=dict)  # limit_data counters
    timers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.upstream) if w is not None]

    def close(self, *, reset: bool = False) -> None:
        for writer in self.writers():
            (_reset if reset else _abort)(writer)
        self.closed.set()


class TcpProxy:
    def __init__(
        self, upstream_host: str, upstream_port: int, *, listen_host: str = "127.0.0.1", listen_port: int = 0
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.listen_host = listen_host
        self._listen_port = listen_port
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._up = True
        self.accepted = 0  # connections accepted (up or down), for assertions
        self.refused = 0  # connections closed at once because the proxy was down
        self._toxics: dict[str, Toxic] = {}
        self._open: set[_Link] = set()
        self._names = itertools.count(1)
        self._random = random.Random()
        self.toxic_closes = 0  # connections closed or reset by a toxic

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._up

    @property
    def open_connections(self) -> int:
        return len(self._links)

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self.listen_host, self._listen_port)
        return self

    async def stop(self) -> None:
        """Closes the listener and every connection."""
        if self._server is not None:
            self._server.close()
            await self._cut()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def down(self) -> None:
        """Cuts every open connection and refuses new ones until `up()`."""
        self._up = False
        await self._cut()

    async def up(self) -> None:
        self._up = True

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- toxics --

    @property
    def toxics(self) -> list[Toxic]:
        return list(self._toxics.values())

    def add_toxic(self, toxic: Toxic) -> str:
        """Applies `toxic` to open and new connections; returns its name."""
        name = toxic.name or f"{toxic.kind.value}-{next(self._names)}"
        if name in self._toxics:
            raise ValueError(f"a toxic named {name!r} is already present")
        self._toxics[name] = toxic
        for link in list(self._open):
            self._apply_timer(link, name, toxic)
        return name

    def remove_toxic(self, name: str) -> None:
        self._toxics.pop(name, None)
        for link in list(self._open):
            link.applies.pop(name, None)
            timer = link.timers.pop(name, None)
            if timer is not None:
                timer.cancel()

    def clear_toxics(self) -> None:
        for name in list(self._toxics):
            self.remove_toxic(name)

    @contextlib.asynccontextmanager
    async def toxic(self, toxic: Toxic) -> AsyncIterator[str]:
        """`toxic` for the duration of the block."""
        name = self.add_toxic(toxic)
        try:
            yield name
        finally:
            self.remove_toxic(name)

    def _active(self, link: _Link, direction: Direction) -> list[tuple[str, Toxic]]:
        return [
            (name, toxic) for name, toxic in list(self._toxics.items())
            if toxic.direction.covers(direction) and self._applies(link, name, toxic)
        ]

    def _applies(self, link: _Link, name: str, toxic: Toxic) -> bool:
        if name not in link.applies:
            link.applies[name] = toxic.toxicity >= 1.0 or self._random.random() < toxic.toxicity
        return link.applies[name]

    def _apply_timer(self, link: _Link, name: str, toxic: Toxic) -> None:
        if toxic.kind not in _TIMED or not self._applies(link, name, toxic):
            return
        if toxic.kind is ToxicKind.TIMEOUT and toxic.timeout_s <= 0:
            return  # a pure stall: nothing to schedule
        link.timers[name] = asyncio.get_running_loop().create_task(self._fire(link, toxic))

    async def _fire(self, link: _Link, toxic: Toxic) -> None:
        await asyncio.sleep(toxic.timeout_s)
        if not link.closed.is_set():
            self.toxic_closes += 1
            link.close(reset=toxic.kind is ToxicKind.RESET)

    async def _through(self, link: _Link, direction: Direction, data: bytes, writer: asyncio.StreamWriter) -> bool:
        """Sends `data` on through the toxics; False once the link must end."""
        for name, toxic in self._active(link, direction):
            kind = toxic.kind
            if kind is ToxicKind.TIMEOUT:
                return True  # dropped while the stall lasts
            if kind is ToxicKind.RESET and toxic.timeout_s <= 0:
                self.toxic_closes += 1
                link.close(reset=True)
                return False
            if kind is ToxicKind.LIMIT_DATA:
                used = link.sent.get((name, direction), 0)
                room = max(0, toxic.limit_bytes - used)
                if len(data) >= room:
                    if room:
                        writer.write(data[:room])
                        with contextlib.suppress(ConnectionError):
                            await writer.drain()
                    link.sent[(name, direction)] = toxic.limit_bytes
                    self.toxic_closes += 1
                    link.close()
                    return False
                link.sent[(name, direction)] = used + len(data)
            elif kind is ToxicKind.LATENCY:
                delay = toxic.latency_s + (self._random.uniform(-toxic.jitter_s, toxic.jitter_s) if toxic.jitter_s else 0)
                await asyncio.sleep(max(0.0, delay))
        pieces = [data]
        pace = 0.0
        for _name, toxic in self._active(link, direction):
            if toxic.kind is ToxicKind.SLICER:
                pieces = [s for p in pieces for s in self._slices(p, toxic)]
                pace = max(pace, toxic.delay_s)
        rates = [t.rate_bytes_per_s for _n, t in self._active(link, direction) if t.kind is ToxicKind.BANDWIDTH]
        rate = min(rates) if rates else 0.0
        if rate:
            step = max(1, int(rate / 10))  # about ten writes a second
            pieces = [p[i:i + step] for p in pieces for i in range(0, len(p), step)]
        for index, piece in enumerate(pieces):
            if index and pace:
                await asyncio.sleep(pace)
            writer.write(piece)
            await writer.drain()
            if rate:
                await asyncio.sleep(len(piece) / rate)
        return True

    def _slices(self, data: bytes, toxic: Toxic) -> list[bytes]:
        out, i = [], 0
        while i < len(data):
            size = toxic.slice_bytes
            if toxic.size_variation:
                size += self._random.randint(-toxic.size_variation, toxic.size_variation)
            size = max(1, size)
            out.append(data[i:i + size])
            i += size
        return out

    # -- links --

    async def _cut(self) -> None:
        for writer in list(self._writers):
            _abort(writer)
        links = list(self._links)
        for task in links:
            task.cancel()
        for task in links:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if not self._up:
            self.refused += 1
            _abort(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        self._writers.add(writer)
        link = _Link(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
            link.upstream = upstream_writer
            self._writers.add(upstream_writer)
            self._open.add(link)
            for name, toxic in list(self._toxics.items()):
                self._apply_timer(link, name, toxic)
            await _pipe_both(reader, writer, upstream_reader, upstream_writer, proxy=self, link=link)
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.debug("proxy link ended", extra={"error": str(exc)})
        finally:
            self._open.discard(link)
            link.closed.set()
            for timer in link.timers.values():
                timer.cancel()
            self._links.discard(task)
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    _abort(w)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Closes at once (RST when possible), like a dead server."""
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


def _reset(writer: asyncio.StreamWriter) -> None:
    """A TCP reset for sure: linger 0, then close, sends RST rather than FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None and not writer.transport.is_closing():
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _abort(writer)


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    proxy: TcpProxy | None = None,
    link: _Link | None = None,
    direction: Direction = Direction.DOWNSTREAM,
) -> None:
    while data := await reader.read(_BUFFER):
        if proxy is not None and link is not None and proxy._toxics:
            if not await proxy._through(link, direction, data, writer):
                return
            continue
        writer.write(data)
        await writer.drain()


async def _pipe_both(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
    *,
    proxy: TcpProxy | None = None,
    link: _Link | None = None,
) -> None:
    """Copies both ways until either side closes; then closes both."""
    tasks = [
        asyncio.create_task(_pipe(client_reader, upstream_writer, proxy, link, Direction.UPSTREAM)),
        asyncio.create_task(_pipe(upstream_reader, client_writer, proxy, link, Direction.DOWNSTREAM)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
