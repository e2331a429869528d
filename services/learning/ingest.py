"""The write side: interactions and feedback go to the database, or to the
local spool while it is down, and into the in-memory model once accepted.

"Accepted" means committed to the database or fsync'd to the spool; only then
is the caller acknowledged and the model updated. Idempotency keys are checked
in memory first (recently accepted ids, the spool's pending entries, writes in
flight), then by the database's unique key, so a repeat is stored once and
counted by the model once.

While the database is down, a repeat of something accepted long ago (no longer
in memory) cannot be recognised: it is spooled and counted at once, as new.
Replay tells: an interaction the database already had makes the model be
rebuilt from the database (`rebuild_wanted`); feedback it already had, or
that replaced an earlier rating, is taken back out of the model.

Rows other replicas write reach this replica's model through sync.py, which
calls `absorb_tailed*` here.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.learning.feedback import HeldFeedback, ReaskDetector
from services.learning.groupcommit import GroupCommit
from services.learning.modelstate import Event, ModelKeeper, ObserveEvent, RateEvent
from services.learning.records import (
    Ack,
    Durability,
    FeedbackAck,
    FeedbackRecord,
    InteractionRecord,
    Key,
    RatedInteraction,
)
from services.learning.spool import (
    DatabaseState,
    Replayer,
    ReplayOutcome,
    Spool,
    SpoolEntry,
    SpoolError,
)
from services.learning.store import (
    Accepted,
    ForgetCounts,
    History,
    InsertResult,
    Store,
    TailedFeedback,
    TailedInteraction,
    is_unavailable,
)
from switchboard.runtime.clock import Clock

log = logging.getLogger("switchboard.learning.ingest")

_YIELD_EVERY = 200  # rows absorbed between yields to the event loop (~2 ms)


class StorageUnavailable(Exception):
    """Neither the database nor the spool can take the operation."""


@dataclass(frozen=True, slots=True)
class Known:
    """A recently accepted interaction, as little of it as is needed: its
    acknowledgement (for a repeat) and whose it was, on which topic and backend
    (a RatedInteraction, for feedback on it and ForgetUser). Not the whole
    record: the memory holds up to `learning_recent_ids` of these."""

    stored_at: datetime
    durability: Durability
    tenant: str
    user_id: str
    topic: str
    backend: str

    @classmethod
    def of(cls, record: InteractionRecord, stored_at: datetime, durability: Durability) -> Known:
        # Interned: a few labels and users recur in every entry; one copy each, not one per entry.
        return cls(
            stored_at, durability,
            sys.intern(record.tenant), sys.intern(record.user_id), sys.intern(record.topic), sys.intern(record.backend),
        )


class RecentInteractions:
    """Bounded memory of recently accepted interactions (LRU), about 0.35 kB each."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[Key, Known] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Key) -> Known | None:
        return self._items.get(key)

    def put(self, record: InteractionRecord, stored_at: datetime, durability: Durability) -> None:
        key = (sys.intern(record.tenant), record.interaction_id)
        self._items[key] = Known.of(record, stored_at, durability)
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def mark_stored(self, key: Key) -> None:
        known = self._items.get(key)
        if known is not None and known.durability is not Durability.STORED:
            self._items[key] = replace(known, durability=Durability.STORED)

    def forget_user(self, tenant: str, user_id: str) -> set[str]:
        gone = {k for k, v in self._items.items() if k[0] == tenant and v.user_id == user_id}
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
        # Concurrent calls share one commit (groupcommit.py); the spool replay writes directly.
        self._commits = GroupCommit(store.insert_interactions, timeout_s=db_timeout_s)
        self._inflight: dict[Key, asyncio.Future[Ack]] = {}
        # Counted when spooled, as new; replay says whether they were (see above).
        self._unverified: set[Key] = set()
        self._unverified_feedback: set[Key] = set()
        self.rebuild_wanted = asyncio.Event()

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
        result = None
        if self._state.up:
            try:
                # Bounded by GroupCommit: db_timeout_s queued, then the transaction's own.
                result = await self._commits.insert_interactions(accepted, on_commit=self._committed)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._database_down(exc)
        if result is not None:
            for record in records:
                if record.key in result.inserted:
                    acks.append(Ack(record.interaction_id, now, False, Durability.STORED))
                else:
                    stored_at = result.existing.get(record.key, now)
                    acks.append(Ack(record.interaction_id, stored_at, True, Durability.STORED))
            return acks
        await self._spool_append([SpoolEntry("interaction", now, interaction=r) for r in records])
        self._unverified.update(r.key for r in records)
        for record in records:
            self._recent.put(record, now, Durability.SPOOLED)
            self._absorb(record)
        return [Ack(r.interaction_id, now, False, Durability.SPOOLED) for r in records]

    def _committed(self, accepted: Sequence[Accepted], result: InsertResult) -> None:
        """The new rows of a commit reach memory and the model; run by the group
        commit as it commits, so also when the caller gave up meanwhile (a resend
        finds them stored and counts them as repeats)."""
        for item in accepted:
            if item.record.key in result.inserted:
                self._recent.put(item.record, item.stored_at, Durability.STORED)
                self._absorb(item.record)

    def _absorb(self, record: InteractionRecord) -> None:
        self._keeper.observe(record)
        for feedback in self._held.release(record.key):
            self._keeper.rate(record, feedback)

    async def _implicit_feedback(self, records: Sequence[InteractionRecord]) -> None:
        """The re-ask signals these new interactions reveal, recorded as feedback.
        A re-ask is of a recent answer, so its interaction is nearly always in
        memory: those go to the database in one transaction (a burst of re-asks
        is one write, not one each); the rest take `record_feedback`'s path."""
        found = [f for r in records if (f := self._reask.observe(r, self._clock.monotonic())) is not None]
        together: list[tuple[FeedbackRecord, RatedInteraction]] = []
        alone: list[FeedbackRecord] = []
        for feedback in found:
            interaction = self._interaction_in_memory(feedback.interaction_key)
            if interaction is not None and self._state.up and self._spool.pending("feedback", feedback.key) is None:
                together.append((feedback, interaction))
            else:
                alone.append(feedback)
        if together and not await self._write_feedback_together(together):
            alone = [f for f, _ in together] + alone
        for feedback in alone:
            try:
                await self.record_feedback(feedback)
            except StorageUnavailable:
                log.warning("could not record an implicit re-ask signal",
                            extra={"interaction_id": feedback.interaction_id})

    async def _write_feedback_together(self, items: Sequence[tuple[FeedbackRecord, RatedInteraction]]) -> bool:
        """`record_feedback` for feedback whose interactions are known, in one
        database transaction; False (nothing written) when the database is down."""
        now = self._clock.now()
        try:
            async with asyncio.timeout(self._db_timeout_s):
                writes = await self._store.write_feedback([(f, now) for f, _ in items])
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self._database_down(exc)
            return False
        for (feedback, interaction), write in zip(items, writes, strict=True):
            if write.duplicate:
                continue
            if write.previous is not None:
                self._keeper.retract(interaction, write.previous)
            self._keeper.rate(interaction, feedback)
        return True

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
        interaction is known; feedback that arrives first is held until then.
        A rating that replaces an earlier one takes the earlier one out."""
        interaction = self._interaction_in_memory(feedback.interaction_key)
        held = self._held.hold(feedback) if interaction is None else None
        try:
            if interaction is None and self._state.up:
                interaction = await self._find_interaction(feedback.interaction_key)
            now = self._clock.now()
            written = await self._write_feedback(feedback, now, known=interaction is not None)
        except BaseException:
            if held is not None:
                self._held.claim(held)  # withdrawn: the write did not happen
            raise
        ack = written.ack
        if ack.duplicate:
            if held is not None:
                self._held.claim(held)
            return ack
        if held is not None and ack.replaced_previous:
            self._held.drop_others(held)
        if interaction is not None and (held is None or self._held.claim(held)):
            if written.previous is not None:
                self._keeper.retract(interaction, written.previous)
            self._keeper.rate(interaction, feedback)
            if written.unverified:
                self._unverified_feedback.add(feedback.key)
        return ack

    def _interaction_in_memory(self, key: Key) -> RatedInteraction | None:
        if (known := self._recent.get(key)) is not None:
            return known
        if (entry := self._spool.pending("interaction", key)) is not None:
            return entry.interaction
        return None

    async def _find_interaction(self, key: Key) -> RatedInteraction | None:
        try:
            async with asyncio.timeout(self._db_timeout_s):
                found = await self._store.find_interaction(key)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self._database_down(exc)
            return None
        return found[0] if found else None

    async def _write_feedback(self, feedback: FeedbackRecord, now: datetime, *, known: bool) -> _FeedbackWritten:
        if self._state.up and self._spool.pending("feedback", feedback.key) is None:
            try:
                async with asyncio.timeout(self._db_timeout_s):
                    (write,) = await self._store.write_feedback([(feedback, now)])
                ack = FeedbackAck(
                    feedback.feedback_id, write.stored_at, write.duplicate, write.replaced_previous,
                    known, Durability.STORED,
                )
                return _FeedbackWritten(ack, write.previous, unverified=False)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._database_down(exc)
        spooled = self._spool.pending("feedback", feedback.key)
        previous = spooled.feedback if spooled is not None else None
        if (
            spooled is not None
            and previous is not None
            and (previous.same_content(feedback) or feedback.caller_id or not feedback.explicit)
        ):
            ack = FeedbackAck(feedback.feedback_id, spooled.accepted_at, True, False, known, Durability.SPOOLED)
            return _FeedbackWritten(ack, None, unverified=False)
        await self._spool_append([SpoolEntry("feedback", now, feedback=feedback)])
        ack = FeedbackAck(feedback.feedback_id, now, False, previous is not None, known, Durability.SPOOLED)
        # Without a spooled previous version, the database may hold one: replay tells.
        return _FeedbackWritten(ack, previous, unverified=previous is None)

    # --- replay, rebuild, privacy ----------------------------------------------------

    async def on_replayed(self, entries: list[SpoolEntry], outcome: ReplayOutcome) -> None:
        """Spooled entries are in the database now: acknowledge them as stored,
        and correct the model where it counted one that was not new."""
        for entry in entries:
            if entry.interaction is None:
                continue
            key = entry.interaction.key
            self._recent.mark_stored(key)
            if key in self._unverified:
                self._unverified.discard(key)
                if key not in outcome.inserted:
                    log.info("a spooled interaction was a repeat: rebuilding the model", extra={"interaction_id": key[1]})
                    self.rebuild_wanted.set()
        for record, write in outcome.feedback:
            if record.key not in self._unverified_feedback:
                continue
            self._unverified_feedback.discard(record.key)
            taken_back = record if write.duplicate else write.previous
            if taken_back is None:
                continue
            interaction = self._interaction_in_memory(record.interaction_key) or await self._find_interaction(
                record.interaction_key
            )
            if interaction is not None:
                self._keeper.retract(interaction, taken_back)

    async def rebuild(self, history: History, reask_since: datetime) -> int:
        """Rebuilds the model from `history` plus what waits in the spool (call
        `keeper.begin_rebuild()` before reading the history); primes the
        duplicate and re-ask memories. Returns the number of events replayed."""
        events: list[tuple[datetime, int, int, Event]] = []
        loaded: dict[Key, InteractionRecord] = {}
        rated: dict[Key, int] = {}  # feedback key -> its index in events
        seq = 0
        for record, stored_at in history.interactions:
            seq += 1
            events.append((stored_at, 0, seq, ObserveEvent(record)))
            loaded[record.key] = record
            self._recent.put(record, stored_at, Durability.STORED)
        for item in history.feedback:
            seq += 1
            if item.interaction is not None:
                rated[item.feedback.key] = len(events)
                events.append((item.stored_at, 1, seq, RateEvent(item.interaction, item.feedback)))
            else:
                self._held.hold_once(item.feedback)
        self._unverified.difference_update(loaded)  # the new model counts them once
        pending = self._spool.pending_entries()
        for entry in pending:
            seq += 1
            if entry.interaction is not None and entry.interaction.key not in loaded:
                record = entry.interaction
                loaded[record.key] = record
                events.append((entry.accepted_at, 0, seq, ObserveEvent(record)))
                self._recent.put(record, entry.accepted_at, Durability.SPOOLED)
        for entry in pending:
            seq += 1
            fb = entry.feedback
            if fb is None:
                continue
            interaction = loaded.get(fb.interaction_key)
            if interaction is None:
                self._held.hold_once(fb)
                continue
            event = (entry.accepted_at, 1, seq, RateEvent(interaction, fb))
            stored = rated.get(fb.key)
            if stored is None:
                rated[fb.key] = len(events)
                events.append(event)
                continue
            # The database has this key already: the spooled one is a repeat,
            # or (a new rating by the same user) replaces it.
            self._unverified_feedback.discard(fb.key)
            previous = events[stored][3]
            assert isinstance(previous, RateEvent)
            if not (previous.feedback.same_content(fb) or fb.caller_id or not fb.explicit):
                events[stored] = event
        events.sort(key=lambda e: e[:3])
        ordered = [e[3] for e in events]
        await self._keeper.rebuild(ordered)
        arrived = self._clock.monotonic()
        for event in ordered:
            if isinstance(event, ObserveEvent) and event.record.occurred_at >= reask_since:
                self._reask.observe(event.record, arrived)
        return len(ordered)

    # --- rows other replicas wrote (sync.py) -----------------------------------------

    async def absorb_tailed(self, rows: Sequence[TailedInteraction]) -> int:
        """Interactions other replicas stored: into the model and the duplicate
        and re-ask memories, unless this replica has them already (so reading
        them twice is harmless). Returns how many were new here."""
        fresh: list[InteractionRecord] = []
        for n, row in enumerate(rows, 1):
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # Recommend is served from this loop: keep it fast
            record = row.record
            if self._known(record.key) is not None:
                continue
            self._recent.put(record, row.stored_at, Durability.STORED)
            self._absorb(record)
            fresh.append(record)
        await self._implicit_feedback(fresh)
        return len(fresh)

    async def absorb_tailed_feedback(self, items: Sequence[TailedFeedback]) -> int:
        """Feedback other replicas stored: into the model (a replacement takes
        the rating it replaced out first), or held until its interaction is here.
        All I/O comes first: if it fails, nothing was applied."""
        missing = [i.record.interaction_key for i in items if self._interaction_in_memory(i.record.interaction_key) is None]
        found = await self._store.interactions_by_key(missing) if missing else {}
        for n, item in enumerate(items, 1):
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            fb = item.record
            interaction = self._interaction_in_memory(fb.interaction_key) or found.get(fb.interaction_key)
            if interaction is None:
                self._held.drop_key(fb)
                self._held.hold(fb)
                continue
            if item.replaced is not None:
                positive, occurred_at = item.replaced
                self._keeper.retract(interaction, replace(fb, positive=positive, occurred_at=occurred_at))
            self._keeper.rate(interaction, fb)
        return len(items)

    def forget_in_memory(self, tenant: str, user_id: str) -> int:
        """Drops the user from every memory and the model; returns the model cells dropped."""
        ids = self._recent.forget_user(tenant, user_id)
        self._held.forget_user(tenant, ids, user_id)
        self._reask.forget_user(tenant, user_id)
        return self._keeper.forget_user(tenant, user_id)

    async def forget_user(self, tenant: str, user_id: str) -> Forgotten:
        """Deletes the user's data everywhere. The spool is replayed first, so
        nothing of theirs accepted before this call survives in it."""
        try:
            async with asyncio.timeout(self._db_timeout_s * 4):
                await self._replayer.drain()
                counts = await self._store.forget_user(tenant, user_id, self._clock.now())
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self._database_down(exc)
            raise StorageUnavailable("the database is unavailable; deletions are never spooled") from exc
        cells = self.forget_in_memory(tenant, user_id)
        return Forgotten(counts, cells, self._clock.now())


@dataclass(frozen=True)
class _FeedbackWritten:
    ack: FeedbackAck
    previous: FeedbackRecord | None  # the rating it replaced, to take out of the model
    unverified: bool  # spooled without knowing whether the database has this key


def _as_duplicate(ack: Ack) -> Ack:
    return Ack(ack.interaction_id, ack.stored_at, True, ack.durability)

