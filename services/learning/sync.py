"""Keeps the in-memory model in step with the database.

- `rebuild()`: the model from the stored history (read in one snapshot), at
  start-up and whenever replay showed that the model counted a spooled
  interaction the database already had.
- `run()`: every `interval_s`, the rows other replicas wrote since
  (interactions, feedback, ForgetUser tombstones), by row id, into this
  replica's model. So N replicas behind a load balancer converge: each learns
  from every write, not only from the ones it took, within about an interval.
  Rows this process wrote (its `origin`) are in its model already.

Row ids are handed out when a row is written but become visible when its
transaction commits, so they can appear out of order. The tail keeps, per
table, a high mark and the ids below it not seen yet (gaps); a gap is
re-checked until `settle_s` has passed (most are ids that ON CONFLICT DO
NOTHING or a rollback burnt, which never fill).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from typing import Protocol, TypeVar

from services.learning.ingest import Ingestor
from services.learning.modelstate import ModelKeeper
from services.learning.spool import Replayer
from services.learning.store import Marks, Store, is_unavailable
from switchboard.runtime.clock import Clock
from switchboard.runtime.waits import first_of

log = logging.getLogger("switchboard.learning.sync")


class TailCursor:
    """Position in one table's id sequence: the highest id seen and the gaps
    below it still worth re-checking (monotonic seconds they were noticed)."""

    def __init__(self, marks: Marks, now: float, *, settle_s: float, max_gaps: int) -> None:
        self.high = marks.high
        self._settle_s = settle_s
        self._max_gaps = max_gaps
        self._gaps: dict[int, float] = dict.fromkeys(marks.missing, now)
        self._trim()

    @property
    def gaps(self) -> list[int]:
        return list(self._gaps)

    def saw(self, ids: Iterable[int], now: float) -> None:
        """Moves past the ids just read; ids skipped over become gaps."""
        for row_id in sorted(ids):
            if self._gaps.pop(row_id, None) is not None or row_id <= self.high:
                continue
            for missing in range(max(self.high + 1, row_id - self._max_gaps), row_id):
                self._gaps[missing] = now
            self.high = row_id
        for row_id in [i for i, at in self._gaps.items() if now - at > self._settle_s]:
            del self._gaps[row_id]
        self._trim()

    def _trim(self) -> None:
        excess = len(self._gaps) - self._max_gaps
        if excess > 0:
            for row_id in sorted(self._gaps)[:excess]:  # the oldest ids
                del self._gaps[row_id]


class _Tailed(Protocol):
    @property
    def row_id(self) -> int: ...
    @property
    def origin(self) -> str: ...


T = TypeVar("T", bound=_Tailed)


class ModelSync:
    def __init__(
        self,
        *,
        store: Store,
        ingestor: Ingestor,
        keeper: ModelKeeper,
        replayer: Replayer,
        clock: Clock,
        origin: str,
        horizon_s: float,
        reask_window_s: float,
        interval_s: float,
        settle_s: float,
        batch: int = 1000,
        lookback: int = 1000,
        max_gaps: int = 10_000,
    ) -> None:
        self._store = store
        self._ingestor = ingestor
        self._keeper = keeper
        self._replayer = replayer
        self._clock = clock
        self._origin = origin
        self._horizon = timedelta(seconds=horizon_s)
        self._reask_window = timedelta(seconds=reask_window_s)
        self._interval_s = interval_s
        self._settle_s = settle_s
        self._batch = batch
        self._lookback = lookback
        self._max_gaps = max_gaps
        self._lock = asyncio.Lock()
        self._cursors: dict[str, TailCursor] = {}
        self.tailed = 0  # rows of other replicas absorbed (logs, tests)
        self.rebuilds = 0

    async def rebuild(self) -> int:
        """Replaces the model with one built from the database (and the spool);
        the tail continues from where the history ends. Returns the events replayed."""
        async with self._lock, self._replayer.paused():
            self._ingestor.rebuild_wanted.clear()
            now = self._clock.now()
            self._keeper.begin_rebuild()
            try:
                history = await self._store.history(now - self._horizon, lookback=self._lookback)
                events = await self._ingestor.rebuild(history, reask_since=now - self._reask_window)
            except BaseException:
                self._keeper.cancel_rebuild()
                self._ingestor.rebuild_wanted.set()  # still wanted: the next round tries again
                raise
            mono = self._clock.monotonic()
            self._cursors = {
                name: TailCursor(marks, mono, settle_s=self._settle_s, max_gaps=self._max_gaps)
                for name, marks in (
                    ("interactions", history.interaction_marks),
                    ("feedback", history.feedback_marks),
                    ("forgotten", history.forgotten_marks),
                )
            }
            self.rebuilds += 1
            log.info("model rebuilt from the database", extra={"events": events, "rebuilds": self.rebuilds})
            return events

    async def tail_once(self) -> int:
        """Absorbs what other replicas wrote since the last call; returns how
        many rows that was. (Interactions first: feedback finds them then.)"""
        async with self._lock:
            if not self._cursors:
                return 0  # not rebuilt yet
            n = 0
            async for rows in self._read("interactions", self._store.interactions_after):
                n += await self._ingestor.absorb_tailed(rows)
            async for rows in self._read("feedback", self._store.feedback_after):
                n += await self._ingestor.absorb_tailed_feedback(rows)
            async for rows in self._read("forgotten", self._store.forgotten_after):
                for row in rows:
                    self._ingestor.forget_in_memory(row.tenant, row.user_id)
                n += len(rows)
            self.tailed += n
            return n

    async def _read(
        self, name: str, read: Callable[[int, Sequence[int], int], Awaitable[list[T]]]
    ) -> AsyncIterator[list[T]]:
        """Pages of other replicas' rows of one table, past its cursor. The
        cursor moves once the caller has absorbed a page (if that fails, the
        page is read again next round)."""
        cursor = self._cursors[name]
        also = cursor.gaps
        while True:
            after = cursor.high
            rows = await read(after, also, self._batch)
            theirs = [r for r in rows if r.origin != self._origin]
            if theirs:
                yield theirs
            cursor.saw([r.row_id for r in rows], self._clock.monotonic())
            if sum(r.row_id > after for r in rows) < self._batch:
                return
            also = []

    async def run(self, stopping: asyncio.Event) -> None:
        """Tails every `interval_s` (never when 0), and rebuilds when the
        ingestor asks for it, until `stopping`. A database outage only delays it."""
        wanted = self._ingestor.rebuild_wanted
        while not stopping.is_set():
            tick = self._clock.sleep(self._interval_s) if self._interval_s > 0 else stopping.wait()
            await first_of(tick, wanted.wait(), stopping.wait())
            if stopping.is_set():
                return
            try:
                if wanted.is_set():
                    await self.rebuild()
                else:
                    await self.tail_once()
            except Exception as exc:  # noqa: BLE001  (keep syncing; the next round retries)
                if is_unavailable(exc):
                    log.debug("model sync waits for the database", extra={"error": str(exc)[:300]})
                else:
                    log.exception("model sync failed", extra={"error": str(exc)[:300]})
