"""The local spool: where accepted writes wait while the database is down.

Layout, in one directory:
- `current.jsonl`: the segment appends go to; one JSON object a line, written
  with O_APPEND and fsync'd before the write is acknowledged.
- `segment-<n>.jsonl`: sealed segments, replayed oldest first. Replay seals
  `current.jsonl` by renaming it (atomic), so appends never wait for a replay.

Exactly once: replay inserts with ON CONFLICT DO NOTHING and deletes a segment
only after its rows are committed. A crash between the commit and the delete
replays the segment again, which stores nothing twice. A crash in the middle of
an append leaves a torn last line, which was never acknowledged; it is cut off
when the spool is opened.

One process per directory: `open` takes an exclusive lock (`lock`, flock) and
fails fast when another process holds it. Replicas sharing a data directory
(the default `<data_dir>/learning-spool`) each take the first free of
`learning-spool`, `learning-spool-2`, …; an explicitly configured directory
must be the replica's own. The spool must outlive the process (a persistent
volume per replica): a restarted replica replays what its predecessor spooled.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.exc import DataError, IntegrityError
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential, wait_random

from services.learning.records import FeedbackRecord, InteractionRecord, Key
from services.learning.store import Accepted, FeedbackWrite, Store, is_unavailable
from switchboard.runtime.clock import Clock
from switchboard.runtime.waits import first_of

log = logging.getLogger("switchboard.learning.spool")

CURRENT = "current.jsonl"
LOCK = "lock"
_SEGMENT = re.compile(r"^segment-(\d{12})\.jsonl$")
Kind = Literal["interaction", "feedback"]


@dataclass(frozen=True)
class SpoolEntry:
    kind: Kind
    accepted_at: datetime
    interaction: InteractionRecord | None = None
    feedback: FeedbackRecord | None = None

    @property
    def key(self) -> tuple[Kind, Key]:
        record = self.interaction or self.feedback
        assert record is not None
        return (self.kind, record.key)

    def to_line(self) -> bytes:
        record = self.interaction or self.feedback
        assert record is not None
        body = {"v": 1, "kind": self.kind, "accepted_at": self.accepted_at.isoformat(), "record": record.to_json()}
        return (json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_line(cls, line: bytes) -> SpoolEntry:
        body = json.loads(line)
        at = datetime.fromisoformat(body["accepted_at"])
        if body["kind"] == "interaction":
            return cls("interaction", at, interaction=InteractionRecord.from_json(body["record"]))
        if body["kind"] == "feedback":
            return cls("feedback", at, feedback=FeedbackRecord.from_json(body["record"]))
        raise ValueError(f"unknown spool entry kind {body['kind']!r}")


class SpoolError(Exception):
    """The spool cannot take the write (disk full, permissions): the write is not accepted."""


class SpoolLocked(OSError):
    """Another process uses the spool directory (start-up fails with this message)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_segment(path: Path) -> list[SpoolEntry]:
    """Parses a segment, first cutting off a torn (unacknowledged) last line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        log.warning("cutting a torn spool line", extra={"path": str(path), "bytes": len(data) - cut})
        with open(path, "r+b") as fh:
            fh.truncate(cut)
            os.fsync(fh.fileno())
        data = data[:cut]
    entries: list[SpoolEntry] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(SpoolEntry.from_line(line))
        except (ValueError, KeyError, TypeError) as exc:  # corrupt line: keep the rest
            log.error("skipping unreadable spool line", extra={"path": str(path), "line": number, "error": str(exc)})
    return entries


class Spool:
    """The append-only spool directory. Not thread-safe: one event loop uses it;
    file I/O runs in worker threads under an asyncio lock."""

    def __init__(self, directory: Path, *, spares: int = 0) -> None:
        # When `directory` is another process's, `directory-2` … `directory-(spares + 1)`.
        self._candidates = [directory] + [directory.with_name(f"{directory.name}-{n}") for n in range(2, spares + 2)]
        self._dir = directory
        self._lock = asyncio.Lock()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        # Entries waiting in the spool, by (kind, key): duplicates are answered
        # from here while the database is down.
        self._pending: dict[tuple[Kind, Key], SpoolEntry] = {}
        self._segments: dict[Path, list[SpoolEntry]] = {}  # sealed, not yet replayed
        self._next_segment = 1

    @property
    def directory(self) -> Path:
        return self._dir

    def _take(self) -> None:
        """Locks the first candidate directory no other process holds."""
        for directory in self._candidates:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._dir, self._lock_fd = directory, fd
            return
        tried = ", ".join(str(d) for d in self._candidates)
        raise SpoolLocked(
            f"the learning spool directory is in use by another process ({tried}): give every learning "
            "replica its own SWITCHBOARD_LEARNING_SPOOL_DIR (on a volume that outlives the process)"
        )

    def open(self) -> list[SpoolEntry]:
        """Locks the directory (SpoolLocked if another process has it) and
        recovers what an earlier process left behind; returns every pending entry."""
        self._take()
        numbers = [int(m.group(1)) for p in self._dir.iterdir() if (m := _SEGMENT.match(p.name))]
        self._next_segment = max(numbers, default=0) + 1
        for number in sorted(numbers):
            path = self._segment_path(number)
            self._segments[path] = _read_segment(path)
        current = self._dir / CURRENT
        if current.exists():
            # Seal what the last process appended, so it replays like any segment.
            entries = _read_segment(current)
            if entries:
                path = self._segment_path(self._next_segment)
                self._next_segment += 1
                os.replace(current, path)
                _fsync_dir(self._dir)
                self._segments[path] = entries
        for entries in self._segments.values():
            for entry in entries:
                self._pending.setdefault(entry.key, entry)
        self._fd = os.open(self._dir / CURRENT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _fsync_dir(self._dir)
        return list(self._pending.values())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _segment_path(self, number: int) -> Path:
        return self._dir / f"segment-{number:012d}.jsonl"

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self, kind: Kind, key: Key) -> SpoolEntry | None:
        return self._pending.get((kind, key))

    def pending_entries(self) -> list[SpoolEntry]:
        return list(self._pending.values())

    async def append(self, entries: Sequence[SpoolEntry]) -> None:
        """Appends and fsyncs; when this returns the entries survive a crash."""
        if not entries:
            return
        data = b"".join(e.to_line() for e in entries)
        async with self._lock:
            fd = self._fd
            if fd is None:
                raise SpoolError("the spool is closed")
            try:
                await asyncio.to_thread(_write_all, fd, data)
            except OSError as exc:
                raise SpoolError(f"cannot write to the spool: {exc}") from exc
            self._current_entries.extend(entries)
            for entry in entries:
                self._pending.setdefault(entry.key, entry)

    @property
    def _current_entries(self) -> list[SpoolEntry]:
        return self._segments.setdefault(self._dir / CURRENT, [])

    async def seal(self) -> list[tuple[Path, list[SpoolEntry]]]:
        """Turns the current segment (if not empty) into a sealed one and returns
        every sealed segment, oldest first."""
        async with self._lock:
            current = self._dir / CURRENT
            entries = self._segments.pop(current, [])
            if entries:
                path = self._segment_path(self._next_segment)
                self._next_segment += 1
                assert self._fd is not None
                os.close(self._fd)
                os.replace(current, path)
                self._fd = os.open(current, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                await asyncio.to_thread(_fsync_dir, self._dir)
                self._segments[path] = entries
            return sorted(self._segments.items())

    async def remove(self, path: Path) -> list[SpoolEntry]:
        """Deletes a sealed segment whose entries are all in the database."""
        async with self._lock:
            entries = self._segments.pop(path, [])
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            await asyncio.to_thread(_fsync_dir, self._dir)
            for entry in entries:
                if self._pending.get(entry.key) is entry:
                    del self._pending[entry.key]
            return entries


def _append_file(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


class DatabaseState:
    """Whether writes should try the database or go straight to the spool."""

    def __init__(self) -> None:
        self._up = asyncio.Event()

    @property
    def up(self) -> bool:
        return self._up.is_set()

    def mark_up(self) -> None:
        if not self._up.is_set():
            log.info("database available")
        self._up.set()

    def mark_down(self, reason: BaseException | str) -> None:
        if self._up.is_set():
            log.warning("database unavailable, spooling writes", extra={"error": str(reason)})
        self._up.clear()

    async def wait_up(self) -> None:
        await self._up.wait()


@dataclass
class ReplayOutcome:
    """What the database said about replayed entries: the model absorbed them
    when they were spooled, assuming they were new."""

    inserted: set[Key] = field(default_factory=set)  # interactions it did not have yet
    feedback: list[tuple[FeedbackRecord, FeedbackWrite]] = field(default_factory=list)  # in order

    def add(self, other: ReplayOutcome) -> None:
        self.inserted |= other.inserted
        self.feedback.extend(other.feedback)


Replayed = Callable[[list[SpoolEntry], ReplayOutcome], Awaitable[None]]
QUARANTINE = "rejected.jsonl"
ChunkHook = Callable[[int], Awaitable[None]]


async def _nothing(*_args: Any) -> None:
    return None


class Replayer:
    """Moves spooled entries into the database, oldest first, and marks the
    database up again once the spool is empty."""

    def __init__(
        self,
        spool: Spool,
        store: Store,
        state: DatabaseState,
        clock: Clock,
        *,
        batch: int,
        backoff_max_s: float,
        on_replayed: Replayed = _nothing,
        after_chunk: ChunkHook = _nothing,  # test seam: runs after each committed chunk
        write_timeout_s: float = 60.0,  # per chunk: a database that hangs counts as down
    ) -> None:
        self._spool = spool
        self._store = store
        self._state = state
        self._clock = clock
        self._batch = batch
        self._backoff_max_s = backoff_max_s
        self._on_replayed = on_replayed
        self._after_chunk = after_chunk
        self._write_timeout_s = write_timeout_s
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def replay_once(self) -> int:
        """Replays every sealed segment; raises if the database fails midway
        (what was committed stays committed and is deduplicated next time)."""
        async with self._lock:
            done = 0
            for path, entries in await self._spool.seal():
                for start in range(0, len(entries), self._batch):
                    chunk = entries[start : start + self._batch]
                    try:
                        async with asyncio.timeout(self._write_timeout_s):
                            outcome = await self._write(chunk)
                    except (DataError, IntegrityError):
                        outcome = await self._write_one_by_one(chunk)
                    await self._after_chunk(len(chunk))
                    await self._on_replayed(chunk, outcome)
                    done += len(chunk)
                await self._spool.remove(path)
            if done:
                log.info("spool replayed", extra={"entries": done})
            return done

    async def _write(self, chunk: Sequence[SpoolEntry]) -> ReplayOutcome:
        interactions = [Accepted(e.interaction, e.accepted_at) for e in chunk if e.interaction is not None]
        feedback = [(e.feedback, e.accepted_at) for e in chunk if e.feedback is not None]
        result = await self._store.insert_interactions(interactions)
        writes = await self._store.write_feedback(feedback) if feedback else []
        return ReplayOutcome(result.inserted, [(f, w) for (f, _), w in zip(feedback, writes, strict=True)])

    async def _write_one_by_one(self, chunk: Sequence[SpoolEntry]) -> ReplayOutcome:
        """Isolates an entry whose data the database refuses, so that it cannot
        block the spool forever: it goes to a quarantine file for a human. (Any
        other error, e.g. an outage or a missing table, is retried later.)"""
        outcome = ReplayOutcome()
        for entry in chunk:
            try:
                outcome.add(await self._write([entry]))
            except (DataError, IntegrityError) as exc:
                log.error("quarantining a spooled entry the database refuses", extra={"error": str(exc)[:300]})
                path = self._spool.directory / QUARANTINE
                await asyncio.to_thread(_append_file, path, entry.to_line())
        return outcome

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No replay runs inside (a model rebuild reads the database and then the
        spool, and an entry must not move from one to the other in between)."""
        async with self._lock:
            yield

    async def drain(self) -> None:
        """Replays now, or raises when the database is unreachable."""
        await self.replay_once()
        if len(self._spool) == 0:
            self._state.mark_up()

    async def run(self, stopping: asyncio.Event) -> None:
        """Background loop: whenever the database is marked down or the spool has
        entries, retry with exponential back-off (on the injected clock) until
        everything is replayed."""
        self._stopping = stopping
        while not stopping.is_set():
            if self._state.up and len(self._spool) == 0:
                self._wake.clear()
                await first_of(self._wake.wait(), stopping.wait())
                continue
            try:
                async for attempt in AsyncRetrying(
                    sleep=self._sleep,
                    wait=wait_exponential(multiplier=0.1, max=self._backoff_max_s) + wait_random(0, 0.1),
                    retry=retry_if_exception(is_unavailable),
                    reraise=True,
                ):
                    with attempt:
                        if stopping.is_set():
                            return
                        async with asyncio.timeout(self._write_timeout_s):
                            await self._store.ping()
                        await self.drain()
            except Exception as exc:  # noqa: BLE001  (keep the loop alive; the entry stays spooled)
                log.exception("spool replay failed", extra={"error": str(exc)})
                await first_of(self._clock.sleep(self._backoff_max_s), stopping.wait())

    async def _sleep(self, seconds: float) -> None:
        # A new wake-up (e.g. a write that found the database down) does not
        # shorten the back-off; only time (or shutdown) does.
        await first_of(self._clock.sleep(seconds), self._stopping.wait())
