"""The write side: interactions and feedback go to the database, or to the
local spool while it is down, and into the in-memory model once accepted.

"Accepted" means committed to the database or fsync'd to the spool; only then
is the caller acknowledged and the model updated. Idempotency keys are checked
in memory first (recently accepted ids, the spool's pending entries, writes in
flight), then by the database's unique key, so a repeat is stored once and
counted by the model once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.learning.feedback import HeldFeedback, ReaskDetector
from services.learning.modelstate import Event, ModelKeeper, ObserveEvent, RateEvent
from services.learning.records import (
    Ack,
    Durability,
    FeedbackAck,
    FeedbackRecord,
    InteractionRecord,
    Key,
)
from services.learning.spool import DatabaseState, Replayer, Spool, SpoolEntry, SpoolError
from services.learning.store import Accepted, ForgetCounts, Store, is_unavailable
from switchboard.runtime.clock import Clock

log = logging.getLogger("switchboard.learning.ingest")


class StorageUnavailable(Exception):
    """Neither the database nor the spool can take the operation."""


@dataclass(frozen=True, slots=True)
class Known:
    """A recently accepted interaction: its acknowledgement and content."""

    stored_at: datetime
    durability: Durability
    record: InteractionRecord


class RecentInteractions:
    """Bounded memory of recently accepted interactions (LRU)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[Key, Known] = OrderedDict()

    def get(self, key: Key) -> Known | None:
        return self._items.get(key)

    def put(self, key: Key, known: Known) -> None:
        self._items[key] = known
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def mark_stored(self, key: Key) -> None:
        known = self._items.get(key)
        if known is not None and known.durability is not Durability.STORED:
            self._items[key] = Known(known.stored_at, Durability.STORED, known.record)

    def forget_user(self, tenant: str, user_id: str) -> set[str]:
        gone = {k for k, v in self._items.items() if k[0] == tenant and v.record.user_id == user_id}
        for key in gone:
            del self._items[key]
        return {k[1] for k in gone}


@dataclass(frozen=True)
class Forgotten:
    counts: ForgetCounts
    model_cells: int
    at: datetime


class Ingestor:
    def __init__(
        self,
        *,
        store: Store,
        spool: Spool,
        state: DatabaseState,
        replayer: Replayer,
        keeper: ModelKeeper,
        clock: Clock,
        reask: ReaskDetector,
        held: HeldFeedback,
        recent: RecentInteractions,
        db_timeout_s: float,
    ) -> None:
        self._store = store
        self._spool = spool
        self._state = state
        self._replayer = replayer
        self._keeper = keeper
        self._clock = clock
        self._reask = reask
        self._held = held
        self._recent = recent
        self._db_timeout_s = db_timeout_s
        self._inflight: dict[Key, asyncio.Future[Ack]] = {}

    # --- interactions --------------------------------------------------------------

    async def record(self, records: Sequence[InteractionRecord]) -> list[Ack]:
        """Accepts valid interactions (in order; repeats allowed) and returns one
        acknowledgement each. Raises StorageUnavailable when nothing could take them."""
        acks: list[Ack | None] = [None] * len(records)
        first_at: dict[Key, int] = {}
        fresh: list[int] = []
        waiting: list[tuple[int, asyncio.Future[Ack]]] = []
        loop = asyncio.get_running_loop()
        for i, record in enumerate(records):
            if record.key in first_at:
                continue  # a repeat within the batch: answered from its first copy below
            first_at[record.key] = i
            if (known := self._known(record.key)) is not None:
                acks[i] = known
            elif (future := self._inflight.get(record.key)) is not None:
                waiting.append((i, future))
            else:
                fresh.append(i)
                self._inflight[record.key] = loop.create_future()
        try:
            if fresh:
                for i, ack in zip(fresh, await self._accept([records[i] for i in fresh]), strict=True):
                    acks[i] = ack
                    self._inflight[records[i].key].set_result(ack)
        except BaseException as exc:
            for i in fresh:
                future = self._inflight[records[i].key]
                if not future.done():
                    future.set_exception(StorageUnavailable(str(exc)))
                    future.exception()  # retrieved here: only waiters care
            raise
        finally:
            for i in fresh:
                self._inflight.pop(records[i].key, None)
        for i, future in waiting:
            acks[i] = _as_duplicate(await future)
        for i, record in enumerate(records):
            if acks[i] is None:
                acks[i] = _as_duplicate(acks[first_at[record.key]])  # type: ignore[arg-type]
        await self._implicit_feedback([records[i] for i in fresh if not acks[i].duplicate])  # type: ignore[union-attr]
        return acks  # type: ignore[return-value]

    def _known(self, key: Key) -> Ack | None:
        if (known := self._recent.get(key)) is not None:
            return Ack(key[1], known.stored_at, True, known.durability)
        if (entry := self._spool.pending("interaction", key)) is not None:
            return Ack(key[1], entry.accepted_at, True, Durability.SPOOLED)
        return None

    async def _accept(self, records: Sequence[InteractionRecord]) -> list[Ack]:
        now = self._clock.now()
        accepted = [Accepted(r, now) for r in records]
        acks: list[Ack] = []
        new: list[InteractionRecord] = []
        result = None
        if self._state.up:
            try:
                async with asyncio.timeout(self._db_timeout_s):
                    result = await self._store.insert_interactions(accepted)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._database_down(exc)
        if result is not None:
            for record in records:
                if record.key in result.inserted:
                    acks.append(Ack(record.interaction_id, now, False, Durability.STORED))
                    new.append(record)
                else:
                    stored_at = result.existing.get(record.key, now)
                    acks.append(Ack(record.interaction_id, stored_at, True, Durability.STORED))
            durability = Durability.STORED
        else:
            await self._spool_append([SpoolEntry("interaction", now, interaction=r) for r in records])
            acks = [Ack(r.interaction_id, now, False, Durability.SPOOLED) for r in records]
            new = list(records)
            durability = Durability.SPOOLED
        for record in new:
            self._recent.put(record.key, Known(now, durability, record))
            self._absorb(record)
        return acks

    def _absorb(self, record: InteractionRecord) -> None:
        self._keeper.observe(record)
        for feedback in self._held.release(record.key):
            self._keeper.rate(record, feedback)

    async def _implicit_feedback(self, records: Sequence[InteractionRecord]) -> None:
        for record in records:
            found = self._reask.observe(record)
            if found is None:
                continue
            try:
                await self.record_feedback(found)
            except StorageUnavailable:
                log.warning("could not record an implicit re-ask signal", extra={"interaction_id": found.interaction_id})

    def _database_down(self, exc: BaseException) -> None:
        self._state.mark_down(exc)
        self._replayer.wake()

    async def _spool_append(self, entries: Sequence[SpoolEntry]) -> None:
        try:
            await self._spool.append(entries)
        except SpoolError as exc:
            raise StorageUnavailable(f"the database is unavailable and the spool refused the write: {exc}") from exc
        self._replayer.wake()

    # --- feedback ------------------------------------------------------------------

    async def record_feedback(self, feedback: FeedbackRecord) -> FeedbackAck:
        """Stores feedback (or spools it) and applies it to the model once its
        interaction is known; feedback that arrives first is held until then."""
        interaction = self._interaction_in_memory(feedback.interaction_key)
        held = self._held.hold(feedback) if interaction is None else None
        try:
            if interaction is None and self._state.up:
                interaction = await self._find_interaction(feedback.interaction_key)
            now = self._clock.now()
            ack = await self._write_feedback(feedback, now, known=interaction is not None)
        except BaseException:
            if held is not None:
                self._held.claim(held)  # withdrawn: the write did not happen
            raise
        if ack.duplicate:
            if held is not None:
                self._held.claim(held)
            return ack
        if interaction is not None and (held is None or self._held.claim(held)):
            self._keeper.rate(interaction, feedback)
        return ack

    def _interaction_in_memory(self, key: Key) -> InteractionRecord | None:
        if (known := self._recent.get(key)) is not None:
            return known.record
        if (entry := self._spool.pending("interaction", key)) is not None:
            return entry.interaction
        return None

    async def _find_interaction(self, key: Key) -> InteractionRecord | None:
        try:
            async with asyncio.timeout(self._db_timeout_s):
                found = await self._store.find_interaction(key)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self._database_down(exc)
            return None
        return found[0] if found else None

    async def _write_feedback(self, feedback: FeedbackRecord, now: datetime, *, known: bool) -> FeedbackAck:
        if self._state.up and self._spool.pending("feedback", feedback.key) is None:
            try:
                async with asyncio.timeout(self._db_timeout_s):
                    (write,) = await self._store.write_feedback([(feedback, now)])
                return FeedbackAck(
                    feedback.feedback_id, write.stored_at, write.duplicate, write.replaced_previous,
                    known, Durability.STORED,
                )
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._database_down(exc)
        previous = self._spool.pending("feedback", feedback.key)
        if previous is not None and previous.feedback is not None:
            if previous.feedback.same_content(feedback) or feedback.caller_id or not feedback.explicit:
                return FeedbackAck(feedback.feedback_id, previous.accepted_at, True, False, known, Durability.SPOOLED)
        await self._spool_append([SpoolEntry("feedback", now, feedback=feedback)])
        return FeedbackAck(
            feedback.feedback_id, now, False, previous is not None, known, Durability.SPOOLED
        )

    # --- replay, rebuild, privacy ----------------------------------------------------

    async def on_replayed(self, entries: list[SpoolEntry]) -> None:
        """Spooled interactions are in the database now: acknowledge them as stored."""
        for entry in entries:
            if entry.interaction is not None:
                self._recent.mark_stored(entry.interaction.key)

    async def rebuild(self, since: datetime, reask_since: datetime) -> int:
        """Rebuilds the model from the interactions and feedback stored since
        `since`, plus what waits in the spool; primes the duplicate and re-ask
        memories. Returns the number of events replayed."""
        self._keeper.begin_rebuild()
        events: list[tuple[datetime, int, int, Event]] = []
        loaded: dict[Key, InteractionRecord] = {}
        seq = 0
        async for partition in self._store.stream_interactions_since(since):
            for record, stored_at in partition:
                seq += 1
                events.append((stored_at, 0, seq, ObserveEvent(record)))
                loaded[record.key] = record
                self._recent.put(record.key, Known(stored_at, Durability.STORED, record))
        for rated in await self._store.feedback_since(since):
            seq += 1
            if rated.interaction is not None:
                events.append((rated.stored_at, 1, seq, RateEvent(rated.interaction, rated.feedback)))
            else:
                self._held.hold(rated.feedback)
        for entry in self._spool.pending_entries():
            seq += 1
            if entry.interaction is not None and entry.interaction.key not in loaded:
                record = entry.interaction
                loaded[record.key] = record
                events.append((entry.accepted_at, 0, seq, ObserveEvent(record)))
                self._recent.put(record.key, Known(entry.accepted_at, Durability.SPOOLED, record))
        for entry in self._spool.pending_entries():
            seq += 1
            if entry.feedback is not None:
                interaction = loaded.get(entry.feedback.interaction_key)
                if interaction is not None:
                    events.append((entry.accepted_at, 1, seq, RateEvent(interaction, entry.feedback)))
                else:
                    self._held.hold(entry.feedback)
        events.sort(key=lambda e: e[:3])
        ordered = [e[3] for e in events]
        await self._keeper.rebuild(ordered)
        for event in ordered:
            if isinstance(event, ObserveEvent) and event.record.occurred_at >= reask_since:
                self._reask.observe(event.record)
        return len(ordered)

    async def forget_user(self, tenant: str, user_id: str) -> Forgotten:
        """Deletes the user's data everywhere. The spool is replayed first, so
        nothing of theirs accepted before this call survives in it."""
        try:
            async with asyncio.timeout(self._db_timeout_s * 4):
                await self._replayer.drain()
                counts = await self._store.forget_user(tenant, user_id)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self._database_down(exc)
            raise StorageUnavailable("the database is unavailable; deletions are never spooled") from exc
        ids = self._recent.forget_user(tenant, user_id)
        self._held.forget_user(tenant, ids, user_id)
        self._reask.forget_user(tenant, user_id)
        cells = self._keeper.forget_user(tenant, user_id)
        return Forgotten(counts, cells, self._clock.now())


def _as_duplicate(ack: Ack) -> Ack:
    return Ack(ack.interaction_id, ack.stored_at, True, ack.durability)

