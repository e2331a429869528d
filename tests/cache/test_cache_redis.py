"""What only the Redis store does: TTL on every key, entries shared by replicas,
statistics that two cache servers on one Redis report alike, and a Redis that
is there but too slow (answered as degraded misses, breaker open)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from cache_support import Client, seconds, silent_server

from switchboard.cache.v1 import cache_pb2
from switchboard.runtime.clock import ManualClock
from switchboard.testing.infra import free_port


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_every_key_has_a_ttl_and_entries_expire(serve, redis_settings, raw, redis_prefix) -> None:
    cache = Client(await serve("cache", settings=redis_settings()))
    meta = cache_pb2.EntryMetadata(backend="openai", model="gpt", namespaces=["topic:code"])
    await cache.store("long", metadata=meta, ttl=600)
    await cache.store("short", metadata=meta, ttl=0.3)
    assert await cache.found("long") and await cache.found("short")

    entry_and_namespace_keys = [
        k async for k in raw.scan_iter(match=f"{redis_prefix}*") if b":e:" in k or b":ns:" in k
    ]
    assert len(entry_and_namespace_keys) == 2 + 3  # two entries, three namespace sets
    for key in entry_and_namespace_keys:
        assert 0 < await raw.pttl(key) <= 600_000, key

    # Redis expires entries on its own clock: a short real wait is the only way.
    for _ in range(50):
        if not await cache.found("short"):
            break
        await asyncio.sleep(0.05)
    assert not await cache.found("short")
    assert await cache.found("long")
    assert (await cache.stats()).size == 1


async def test_two_cache_servers_share_entries_and_statistics(serve, redis_settings) -> None:
    settings = redis_settings(cache_max_entries=50)
    one = Client(await serve("cache", settings=settings))
    two = Client(await serve("cache", settings=settings))
    meta = cache_pb2.EntryMetadata(backend="b", original_latency=seconds(0.5), cost_usd=0.25)
    await one.store("k", b"v", metadata=meta)
    assert await one.found("k")
    assert await two.found("k")
    assert await two.found("k")
    assert not await two.found("absent")
    assert (await two.invalidate(namespace="backend:b")).removed == 1
    assert not await one.found("k")

    first, second = await one.stats(), await two.stats()
    for stats in (first, second):
        assert stats.store == cache_pb2.STORE_KIND_REDIS
        assert (stats.size, stats.hits, stats.misses, stats.requests_saved) == (0, 3, 2, 3)
        assert stats.time_saved.ToMilliseconds() == 1500
        assert stats.cost_saved == pytest.approx(0.75)
    assert first.hit_rate == second.hit_rate == pytest.approx(0.6)
    assert first.efficiency_score == second.efficiency_score


async def test_large_values_are_stored_compressed_in_redis(serve, redis_settings, raw, redis_prefix) -> None:
    cache = Client(await serve("cache", settings=redis_settings(cache_compress_min_bytes=100)))
    value = b"All work and no play makes Jack a dull boy. " * 5000
    assert (await cache.store("big", value)).compressed
    [entry_key] = [k async for k in raw.scan_iter(match=f"{redis_prefix}e:*")]
    assert await raw.hget(entry_key, "z") == b"1"
    assert await raw.hstrlen(entry_key, "v") < len(value) // 10
    assert (await cache.lookup("big")).entry.value == value


async def test_hung_redis_is_a_degraded_miss_and_the_breaker_stops_asking(serve, redis_settings) -> None:
    clock = ManualClock()
    async with silent_server() as port:
        settings = redis_settings(
            redis_url=f"redis://127.0.0.1:{port}/0",
            cache_redis_timeout_s=0.05,
            cache_breaker_failure_threshold=2,
            cache_breaker_open_s=30,
        )
        cache = Client(await serve("cache", settings=settings, clock=clock))
        for _ in range(2):  # each within the call's deadline, as a miss
            missed = await cache.lookup("k")
            assert (missed.found, missed.degraded) == (False, True)
            assert "50 ms" in missed.degraded_reason or "Timeout" in missed.degraded_reason
        # Open now: answered without touching Redis.
        skipped = await cache.lookup("k")
        assert skipped.degraded and "breaker open" in skipped.degraded_reason
        stored = await cache.store("k", b"v")
        assert (stored.stored, stored.degraded) == (False, True)
        assert not stored.HasField("expires_at")
        invalidated = await cache.invalidate(namespace="backend:x")
        assert (invalidated.removed, invalidated.degraded) == (0, True)
        stats = await cache.stats()
        assert stats.degraded and "breaker open" in stats.degraded_reason
        assert stats.store == cache_pb2.STORE_KIND_REDIS and stats.max_size == 1000
        assert stats.advice[0].startswith("store unreachable")


async def test_nothing_listening_is_a_degraded_miss(serve, redis_settings) -> None:
    settings = redis_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", cache_redis_timeout_s=0.5)
    cache = Client(await serve("cache", settings=settings))
    missed = await cache.lookup("k")
    assert (missed.found, missed.degraded) == (False, True)
    assert "ConnectionError" in missed.degraded_reason
