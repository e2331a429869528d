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
none (a new key, one idle longer than `max_age_s`, or a burst that used them
up) waits for the key's one fetch in flight, starting it if there is none:
requests for one key never ask learning side by side. The batch size follows
the key's recent demand, between `MIN_DRAWS` and `max_draws`. When learning
cannot answer, requests for that key take the static order for `max_age_s`
without asking (a struggling learning is not asked harder). Keys are kept least
recently used first, at most `max_keys`. A refill is background work: it has
its own, longer deadline and runs in a trace of its own, linked to the request
that started it, as the outcome batches do.
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

MIN_DRAWS = 4  # asked for a key with no demand on record (at most max_draws)
_ROUNDS = 3  # fetches one request may wait for in a burst before taking the static order


@dataclass(frozen=True)
class DrawBatch:
    orders: list[list[str]]  # independent rankings, each best first; empty: none
    degraded_reason: str = ""  # why there are none (learning down, late...)


class DrawSource(Protocol):
    async def draws(
        self, *, tenant: str, user_id: str, topic: str, candidates: Sequence[str], count: int, request_id: str,
        deadline_s: float | None = None,
    ) -> DrawBatch: ...


Key = tuple[str, str, str, tuple[str, ...]]


class _Entry:
    """A key's draws, and what the pool knows of the key's demand and of learning."""

    __slots__ = ("failed_until", "failure", "fetch", "fetched_at", "orders", "size", "used", "waiting")

    def __init__(self) -> None:
        self.orders: deque[list[str]] = deque()
        self.fetched_at = -math.inf
        self.used = 0  # draws spent since fetched_at: the key's demand
        self.size = 0  # the batch as fetched
        self.fetch: asyncio.Task[DrawBatch] | None = None  # the key's one fetch in flight
        self.waiting = 0  # requests waiting for it
        self.failed_until = -math.inf  # after a failed fetch: no new fetch until then
        self.failure = ""

    def fresh(self, now: float, max_age_s: float) -> bool:
        return bool(self.orders) and now - self.fetched_at < max_age_s

    def running_low(self, now: float, max_age_s: float) -> bool:
        """A quarter of the batch left, or half its life gone."""
        return len(self.orders) * 4 <= self.size or now - self.fetched_at >= max_age_s / 2


class DrawPool:
    """A Recommender that spends learning's draws one per request."""

    def __init__(self, source: DrawSource, clock: Clock, *, max_draws: int, max_age_s: float, wait_s: float,
                 max_keys: int = 10_000) -> None:
        if max_draws < 1 or max_age_s <= 0 or wait_s <= 0 or max_keys < 1:
            raise ValueError("max_draws, max_age_s, wait_s and max_keys must be positive")
        self._wait_s = wait_s  # the longest a request waits for learning (its Recommend deadline)
        self._source = source
        self._clock = clock
        self._max_draws = max_draws
        self._min_draws = min(MIN_DRAWS, max_draws)
        self._max_age_s = max_age_s
        self._max_keys = max_keys
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._tasks: set[asyncio.Task[DrawBatch]] = set()
        self.fetches = 0  # calls to learning, for tests and figures
        self.served = 0  # requests that got a draw

    async def recommend(
        self, *, user_id: str, topic: str, candidates: Sequence[str], request_id: str, tenant: str = ""
    ) -> Recommendation:
        key: Key = (tenant, user_id, topic, tuple(candidates))
        entry = self._entry(key)
        for _ in range(_ROUNDS):
            now = self._clock.monotonic()
            if entry.fresh(now, self._max_age_s):
                order = entry.orders.popleft()
                entry.used += 1
                self.served += 1
                if entry.fetch is None and now >= entry.failed_until and entry.running_low(now, self._max_age_s):
                    self._start_fetch(key, entry, request_id, background=True)
                return Recommendation(order)
            if entry.fetch is None and now < entry.failed_until:
                return Recommendation(None, entry.failure)
            fetch = entry.fetch or self._start_fetch(key, entry, request_id, background=False)
            entry.waiting += 1
            try:
                # Shielded: a caller that stops waiting (its own deadline, a cache
                # hit, a cancelled request) leaves the fetch to finish for the
                # requests after it. A request waits no longer than `wait_s`, also
                # for a refill, whose own deadline is longer.
                async with asyncio.timeout(self._wait_s):
                    batch = await asyncio.shield(fetch)
            except TimeoutError:
                return Recommendation(None, f"learning: no recommendation within {self._wait_s * 1000:g} ms; "
                                            "static order")
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if fetch.cancelled() and task is not None and not task.cancelling():
                    return Recommendation(None, "learning: the fetch of its draws was cancelled; static order")
                raise
            finally:
                entry.waiting -= 1
            if not batch.orders:
                return Recommendation(None, batch.degraded_reason)
        return Recommendation(None, "learning: its draws ran out in a burst of requests; static order")

    def _entry(self, key: Key) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            while len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)  # a fetch in flight finishes for its waiters
        else:
            self._entries.move_to_end(key)
        return entry

    def _batch_size(self, entry: _Entry, now: float) -> int:
        """Enough for the key's demand over one `max_age_s`, going by what it used
        since its last batch (at least half a max age, so a burst right after a
        fetch does not look like a flood)."""
        if entry.used == 0:
            return self._min_draws
        elapsed = max(now - entry.fetched_at, self._max_age_s / 2)
        wanted = math.ceil(entry.used / elapsed * self._max_age_s) + 1
        return max(self._min_draws, min(self._max_draws, wanted))

    def _start_fetch(self, key: Key, entry: _Entry, request_id: str, *, background: bool) -> asyncio.Task[DrawBatch]:
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._fetch(key, entry, request_id, capture_context() if background else None,
                                            background=background))
        entry.fetch = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _fetch(
        self, key: Key, entry: _Entry, request_id: str, started_by: SpanContext | None, *, background: bool
    ) -> DrawBatch:
        """Asks learning for the key's next batch and keeps it. In the background
        (a refill nobody waits for) with a longer deadline, in a linked trace."""
        tenant, user_id, topic, candidates = key
        started = self._clock.monotonic()
        # Enough for the key's demand, and for every request already waiting (a burst).
        count = max(self._batch_size(entry, started), min(self._max_draws, entry.waiting + 1))
        self.fetches += 1
        try:
            ask = self._source.draws(
                tenant=tenant, user_id=user_id, topic=topic, candidates=candidates, count=count,
                request_id=request_id, deadline_s=self._max_age_s / 4 if background else None,
            )
            if background:
                with start_linked_span("router.refill_draws", [started_by], attributes={"switchboard.draws": count}):
                    batch = await ask
            else:
                batch = await ask
        except Exception as exc:  # noqa: BLE001  (a source bug must not fail the requests waiting on it)
            log.exception("fetching learning's draws failed")
            batch = DrawBatch([], f"learning: {type(exc).__name__}; static order")
        finally:
            entry.fetch = None
        if batch.orders:
            names = {c: c for c in candidates}  # keep the key's strings, not one copy per draw
            entry.orders = deque([names.get(b, b) for b in order] for order in batch.orders)
            entry.size, entry.used, entry.fetched_at = len(batch.orders), 0, started
        else:
            # Learning cannot answer: do not ask it again at once (requests spend
            # what is left, then take the static order).
            entry.failed_until = self._clock.monotonic() + self._max_age_s
            entry.failure = batch.degraded_reason
        return batch

    async def close(self) -> None:
        """Cancels fetches still in flight."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
