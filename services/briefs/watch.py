"""WatchBriefs: a stream of the owner's briefs as any replica stores them.

Local stores wake watchers at once (BriefFeed); briefs stored by other replicas
are found by polling. The poll re-reads a `slack` window behind the newest
generated_at seen and deduplicates by id, so a brief committed late or by a
replica with a slightly different clock is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from services.briefs.model import Brief, BriefKind, Scope
from services.briefs.store import BriefStore
from switchboard.runtime.clock import Clock

_BATCH = 500


class BriefFeed:
    """In-process wake-up for watchers: publish() releases every current waiter."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def publish(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout_s: float, stopping: asyncio.Event) -> None:
        """Returns on a publish, on `stopping`, or after `timeout_s` (real time: it
        paces a database poll, not domain time)."""
        waiters = [asyncio.ensure_future(self._event.wait()), asyncio.ensure_future(stopping.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter


async def watch_briefs(
    store: BriefStore,
    feed: BriefFeed,
    clock: Clock,
    scope: Scope,
    kinds: Sequence[BriefKind],
    since: datetime | None,
    stopping: asyncio.Event,
    *,
    poll_s: float,
    slack: timedelta,
    on_ready: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[Brief]:
    """Replays briefs generated after `since` (oldest first) when given, then
    yields new ones until `stopping` is set. `on_ready` runs once the starting
    point is fixed: every brief stored after it will be streamed."""
    seen: dict[str, datetime] = {}
    newest = since if since is not None else clock.now()
    start = since if since is not None else newest - slack
    # Replay (or, without `since`, mark what already exists as seen), in batches.
    ready = on_ready
    while True:
        batch = await store.briefs_generated_since(scope, kinds, start, limit=_BATCH)
        if ready is not None:
            await ready()
            ready = None
        for brief in batch:
            if brief.id in seen:
                continue
            seen[brief.id] = brief.generated_at
            if since is not None and brief.generated_at > since:
                newest = max(newest, brief.generated_at)
                yield brief
        if len(batch) < _BATCH or batch[-1].generated_at == start:
            break
        start = batch[-1].generated_at
    while not stopping.is_set():
        await feed.wait(poll_s, stopping)
        if stopping.is_set():
            return
        for brief in await store.briefs_generated_since(scope, kinds, newest - slack, limit=_BATCH):
            if brief.id in seen:
                continue
            seen[brief.id] = brief.generated_at
            if since is not None and brief.generated_at <= since:
                continue
            newest = max(newest, brief.generated_at)
            yield brief
        horizon = newest - slack
        for brief_id in [i for i, at in seen.items() if at < horizon]:
            del seen[brief_id]
