"""The in-memory store's time-driven behaviour, on a ManualClock through real gRPC:
TTL expiry and the automatic TTL adjustment's background review."""

from __future__ import annotations

import asyncio
import logging

from cache_support import Client

from switchboard.runtime.clock import ManualClock


async def test_entries_expire_at_their_ttl(serve, memory_settings) -> None:
    clock = ManualClock()
    cache = Client(await serve("cache", settings=memory_settings(), clock=clock))
    await cache.store("ten-seconds", ttl=10)
    await cache.store("default")  # 1 hour
    clock.advance(9.9)
    assert await cache.found("ten-seconds")
    clock.advance(0.2)
    assert not await cache.found("ten-seconds")
    assert (await cache.stats()).size == 1
    clock.advance(3600 - 10.1 - 0.1)
    assert await cache.found("default")
    clock.advance(0.2)
    assert not await cache.found("default")
    stats = await cache.stats()
    assert (stats.size, stats.evictions) == (0, 0)  # expiry is not eviction


async def test_expired_entries_make_room_before_live_ones_are_evicted(serve, memory_settings) -> None:
    clock = ManualClock()
    cache = Client(await serve("cache", settings=memory_settings(cache_max_entries=2), clock=clock))
    await cache.store("old-but-short", ttl=5)
    await cache.store("live")
    clock.advance(6)
    await cache.store("new")
    assert await cache.found("live") and await cache.found("new")
    assert (await cache.stats()).evictions == 0


async def test_auto_ttl_lengthens_the_default_ttl_and_logs_it(serve, memory_settings, caplog) -> None:
    clock = ManualClock()
    settings = memory_settings(
        cache_auto_ttl=True, cache_auto_ttl_interval_s=60, cache_auto_ttl_min_lookups=5, cache_max_ttl_s=10_000
    )
    cache = Client(await serve("cache", settings=settings, clock=clock))
    assert (await cache.stats()).auto_ttl
    for i in range(10):
        await cache.found(f"never-stored-{i}")  # hit rate 0%
    with caplog.at_level(logging.INFO, logger="switchboard.cache"):
        clock.advance(60)
        for _ in range(100):  # let the background review run
            if (await cache.stats()).default_ttl.ToSeconds() != 3600:
                break
            await asyncio.sleep(0.01)
    assert (await cache.stats()).default_ttl.ToSeconds() == 7200
    assert any("default TTL adjusted from 3600s to 7200s" in r.getMessage() for r in caplog.records)
    stored = await cache.store("k")
    assert (stored.expires_at.ToSeconds() - int(clock.now().timestamp())) == 7200

    # The next window has no lookups yet: no change, whatever the clock says.
    clock.advance(60)
    await asyncio.sleep(0.05)
    assert (await cache.stats()).default_ttl.ToSeconds() == 7200
