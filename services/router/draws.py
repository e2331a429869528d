"""Learning's recommendations, fetched a batch at a time and spent one per
request.

Learning ranks backends by Thompson sampling: every request should get its own
draw from the posterior, so that traffic explores in proportion to the
uncertainty. Asking learning once per request costs a gRPC round trip on the
request's path and most of learning's CPU; instead the router asks for several
independent draws at once (`RecommendRequest.draws`) per (tenant, user, topic,
candidates) and hands out one per request. Each request still follows its own
draw; what it gives up is at most `max_age_s` of learning's newest evidence
(batched Thompson sampling). Circuit breakers still react to a failing backend
at once, and a change in the usable candidates is a different key.

A key's draws are refilled in the background before they run out or go stale,
so a steady stream of requests never waits for learning. A request that finds
none (a new key, or one idle longer than `max_age_s`) asks learning itself,
within its deadline, and leaves the rest of the batch for the next ones. The
batch size follows the key's recent demand, between `MIN_DRAWS` and
`max_draws`. Keys are kept least recently used first, at most `max_keys`.
A refill is background work: it runs in a trace of its own, linked to the
request that started it, as the outcome batches do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.trace import SpanContext

from services.router.chain import Recommendation
from switchboard.runtime.clock import Clock
from switchboard.runtime.telemetry import capture_context, start_linked_span

log = logging.getLogger("switchboard.router.draws")

MIN_DRAWS = 4  # asked for a key with no demand on record


@dataclass(frozen=True)
class DrawBatch:
    orders: list[list[str]]  # independent rankings, each best first; empty: none
    degraded_reason: str = ""  # why there are none (learning down, late...)


class DrawSource(Protocol):
    async def draws(
        self, *, tenant: str, user_id: str, topic: str, candidates: Sequence[str], count: int, request_id: str
    ) -> DrawBatch: ...


Key = tuple[str, str, str, tuple[str, ...]]


class _Entry:
    __slots__ = ("fetched_at", "orders", "refill", "size", "used")

    def __init__(self, orders: list[list[str]], fetched_at: float, used: int) -> None:
        self.orders = deque(orders)
        self.fetched_at = fetched_at
        self.used = used  # draws spent since fetched_at: the key's demand
        self.size = used + len(orders)  # the batch as fetched
        self.refill: asyncio.Task[None] | None = None

    def running_low(self, now: float, max_age_s: float) -> bool:
        """A quarter of the batch left, or half its life gone."""
        return len(self.orders) * 4 <= self.size or now - self.fetched_at >= max_age_s / 2


class DrawPool:
    """A Recommender that spends learning's draws one per request."""

    def __init__(self, source: DrawSource, clock: Clock, *, max_draws: int, max_age_s: float,
                 max_keys: int = 10_000) -> None:
        if max_draws < 1 or max_age_s <= 0 or max_keys < 1:
            raise ValueError("max_draws, max_age_s and max_keys must be positive")
        self._source = source
        self._clock = clock
        self._max_draws = max_draws
        self._max_age_s = max_age_s
        self._max_keys = max_keys
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._refills: set[asyncio.Task[None]] = set()
        self.fetches = 0  # calls to learning, for tests and figures
        self.served = 0  # requests answered from a kept draw

    async def recommend(
        self, *, user_id: str, topic: str, candidates: Sequence[str], request_id: str, tenant: str = ""
    ) -> Recommendation:
        key: Key = (tenant, user_id, topic, tuple(candidates))
        now = self._clock.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.orders and now - entry.fetched_at < self._max_age_s:
            self._entries.move_to_end(key)
            entry.used += 1
            self.served += 1
            order = entry.orders.popleft()
            if entry.refill is None and entry.running_low(now, self._max_age_s):
                entry.refill = self._spawn_refill(key, entry, request_id)
            return Recommendation(order)
        count = self._batch_size(entry, now)
        batch = await self._fetch(key, count, request_id)
        if not batch.orders:
            return Recommendation(None, batch.degraded_reason)
        order, *rest = batch.orders
        self._keep(key, rest, now, used=1)
        return Recommendation(order)

    def _batch_size(self, entry: _Entry | None, now: float) -> int:
        """Enough for the key's demand over one `max_age_s`, going by what it used
        since its last batch (at least half a max age, so a burst right after a
        fetch does not look like a flood)."""
        if entry is None or entry.used == 0:
            return MIN_DRAWS
        elapsed = max(now - entry.fetched_at, self._max_age_s / 2)
        wanted = math.ceil(entry.used / elapsed * self._max_age_s) + 1
        return max(MIN_DRAWS, min(self._max_draws, wanted))

    async def _fetch(self, key: Key, count: int, request_id: str) -> DrawBatch:
        tenant, user_id, topic, candidates = key
        self.fetches += 1
        return await self._source.draws(
            tenant=tenant, user_id=user_id, topic=topic, candidates=candidates, count=count, request_id=request_id
        )

    def _keep(self, key: Key, orders: list[list[str]], fetched_at: float, *, used: int) -> None:
        old = self._entries.pop(key, None)
        if old is not None and old.refill is not None and not old.refill.done():
            old.refill.cancel()  # this batch is newer
        entry = _Entry(orders, fetched_at, used)
        self._entries[key] = entry
        while len(self._entries) > self._max_keys:
            _, evicted = self._entries.popitem(last=False)
            if evicted.refill is not None:
                evicted.refill.cancel()

    def _spawn_refill(self, key: Key, entry: _Entry, request_id: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._refill(key, entry, request_id, capture_context()))
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)
        return task

    async def _refill(self, key: Key, entry: _Entry, request_id: str, started_by: SpanContext | None) -> None:
        """Replaces the key's draws with a fresh batch; on failure the old ones
        are spent until they go stale, then requests ask learning themselves."""
        fetched_at = self._clock.monotonic()
        count = self._batch_size(entry, fetched_at)
        try:
            with start_linked_span("router.refill_draws", [started_by], attributes={"switchboard.draws": count}):
                batch = await self._fetch(key, count, request_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (a background refill must not die loudly per request)
            log.exception("refilling learning's draws failed")
            batch = DrawBatch([], "refill failed")
        finally:
            entry.refill = None
        if not batch.orders:
            log.debug("no fresh draws from learning", extra={"reason": batch.degraded_reason})
            return
        if self._entries.get(key) is entry:
            self._keep(key, batch.orders, fetched_at, used=0)

    async def close(self) -> None:
        """Cancels refills still in flight."""
        for task in list(self._refills):
            task.cancel()
        for task in list(self._refills):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
