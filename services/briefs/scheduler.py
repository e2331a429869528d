"""The brief scheduler: at each owner's local brief times it generates the
brief, stores it and hands it to delivery.

- Exactly once: the briefs table is unique on (tenant, owner, kind, date); a run
  (or replica) that loses the insert race drops its copy, so restarts and
  replicas never duplicate a brief or its deliveries.
- Catch-up: every pass considers every slot of the last `catchup` window, so
  briefs missed while the service was down are generated on start-up, as of
  their scheduled time (generated_at shows when they were actually made).
- Time comes from the injected clock, and the loop sleeps on it until the next
  slot (at most one tick), so tests drive it with a ManualClock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.briefs.delivery import Deliverer
from services.briefs.errors import StorageUnavailable
from services.briefs.generate import BriefMaker
from services.briefs.model import BRIEF_KINDS, Brief, BriefKind, OwnerSettings, Scope
from services.briefs.store import BriefStore, ScheduledOwner
from services.briefs.watch import BriefFeed
from switchboard.runtime.clock import Clock
from switchboard.runtime.telemetry import tracer

log = logging.getLogger("switchboard.briefs.scheduler")


@dataclass(frozen=True)
class Slot:
    kind: BriefKind
    date: date
    at: datetime  # UTC instant of the owner's local brief time


def slot_at(settings: OwnerSettings, kind: BriefKind, day: date) -> datetime:
    """The owner's local brief time on `day` as a UTC instant (DST-aware; a time
    skipped by a spring-forward gap lands just after the gap)."""
    local = datetime.combine(day, settings.time_of(kind), tzinfo=ZoneInfo(settings.time_zone))
    return local.astimezone(UTC)


def due_slots(settings: OwnerSettings, now: datetime, catchup: timedelta, not_before: datetime) -> list[Slot]:
    """Slots whose time has come, within the catch-up window, in time order.
    Slots before `not_before` (when the owner appeared) are never due."""
    tz = ZoneInfo(settings.time_zone)
    earliest = max(now - catchup, not_before)
    day = earliest.astimezone(tz).date() - timedelta(days=1)
    last = now.astimezone(tz).date()
    found: list[Slot] = []
    while day <= last:
        for kind in BRIEF_KINDS:
            at = slot_at(settings, kind, day)
            if earliest <= at <= now:
                found.append(Slot(kind, day, at))
        day += timedelta(days=1)
    return sorted(found, key=lambda s: s.at)


def next_slot_after(settings: OwnerSettings, now: datetime) -> datetime:
    tz = ZoneInfo(settings.time_zone)
    today = now.astimezone(tz).date()
    candidates = [
        slot_at(settings, kind, today + timedelta(days=offset)) for offset in (0, 1, 2) for kind in BRIEF_KINDS
    ]
    return min(at for at in candidates if at > now)


class BriefScheduler:
    def __init__(
        self,
        store: BriefStore,
        maker: BriefMaker,
        deliverer: Deliverer,
        clock: Clock,
        feed: BriefFeed,
        *,
        tick_s: float,
        catchup: timedelta,
        delivery_stall: timedelta,
        idempotency_ttl: timedelta,
    ) -> None:
        self._store = store
        self._maker = maker
        self._deliverer = deliverer
        self._clock = clock
        self._feed = feed
        self._tick_s = tick_s
        self._catchup = catchup
        self._stall = delivery_stall
        self._idempotency_ttl = idempotency_ttl
        self._main: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._delivering: set[tuple[str, str, str, int]] = set()
        self._next_wake: datetime | None = None
        # Set after the first pass (the start-up catch-up) has finished.
        self.first_pass = asyncio.Event()

    # --- one pass --------------------------------------------------------------------

    async def run_once(self) -> list[Brief]:
        """Generates and stores every due brief not stored yet; returns the ones
        this call stored (their deliveries run in the background)."""
        now = self._clock.now()
        stored: list[Brief] = []
        next_wake = now + timedelta(seconds=self._tick_s)
        for owner in await self._store.scheduled_owners():
            try:
                stored += await self._run_owner(owner, now)
                next_wake = min(next_wake, next_slot_after(owner.settings, now))
            except StorageUnavailable:
                raise
            except Exception:  # noqa: BLE001  (one owner's bad data must not stop the others)
                log.exception("brief generation failed", extra={"tenant": owner.scope.tenant, "owner": owner.scope.owner_id})
        self._next_wake = next_wake
        await self._resume_stalled(now)
        await self._store.purge_idempotency(now - self._idempotency_ttl)
        return stored

    async def _run_owner(self, owner: ScheduledOwner, now: datetime) -> list[Brief]:
        slots = due_slots(owner.settings, now, self._catchup, owner.first_seen_at)
        if not slots:
            return []
        have = await self._store.stored_days(owner.scope, {s.date for s in slots})
        stored: list[Brief] = []
        for slot in slots:
            if (slot.kind, slot.date) in have:
                continue
            # A trace of its own (not a request's): its calls to learning and the router are children.
            kind = {"switchboard.brief.kind": slot.kind.label}
            with tracer().start_as_current_span("briefs.scheduled_brief", attributes=kind):
                brief = await self._maker.make(owner.scope, slot.kind, slot.at, settings=owner.settings)
            saved = await self._store.insert_brief(owner.scope, brief)
            if saved is None:
                continue  # another run or replica stored it first
            log.info(
                "brief stored",
                extra={"owner": owner.scope.owner_id, "kind": slot.kind.label, "date": slot.date.isoformat(),
                       "late_s": (saved.generated_at - slot.at).total_seconds()},
            )
            stored.append(saved)
            self._feed.publish()
            for index in range(len(saved.deliveries)):
                self._deliver(owner.scope.tenant, owner.scope.owner_id, saved, index, 0)
        return stored

    def _deliver(self, tenant: str, owner_id: str, brief: Brief, index: int, prior_attempts: int) -> None:
        key = (tenant, owner_id, brief.id, index)
        if key in self._delivering:
            return
        self._delivering.add(key)

        async def run() -> None:
            try:
                await self._deliverer.deliver(Scope(tenant, owner_id), brief, index, prior_attempts)
            except Exception:  # noqa: BLE001
                log.exception("delivery crashed", extra={"brief": brief.id, "sink_index": index})
            finally:
                self._delivering.discard(key)

        self._spawn(run())

    async def _resume_stalled(self, now: datetime) -> None:
        """Deliveries left PENDING/RETRYING by a process that died."""
        lease = now + self._stall
        for ref in await self._store.claim_stalled_deliveries(now - self._stall, lease):
            key = (ref.scope.tenant, ref.scope.owner_id, ref.brief_id, ref.sink_index)
            if key in self._delivering:
                continue
            brief = await self._store.get_brief_by_id(ref.scope, ref.brief_id)
            log.info("resuming delivery", extra={"brief": ref.brief_id, "sink_index": ref.sink_index})
            self._deliver(ref.scope.tenant, ref.scope.owner_id, brief, ref.sink_index, ref.delivery.attempts)

    # --- background loop ---------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except StorageUnavailable as exc:
                log.warning("scheduler pass skipped: storage unavailable", extra={"error": str(exc)})
            except Exception:  # noqa: BLE001  (the loop must survive anything)
                log.exception("scheduler pass failed")
            finally:
                self.first_pass.set()
            await self._clock.sleep(self._sleep_s())

    def _sleep_s(self) -> float:
        wake = self._next_wake
        if wake is None:
            return self._tick_s
        return min(self._tick_s, max(0.0, (wake - self._clock.now()).total_seconds()))

    def start(self) -> None:
        if self._main is None:
            self._main = asyncio.get_running_loop().create_task(self.run_forever())

    async def stop(self) -> None:
        tasks = [t for t in [self._main, *self._background] if t is not None]
        self._main = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Waits for background deliveries (tests; shutdown uses stop)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
