"""The cache's behaviour through real gRPC, the same for both stores: the
in-memory store (embedded default) and real Redis."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from cache_support import Client, seconds

from services.cache.settings import CacheSettings
from switchboard.cache.v1 import cache_pb2
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.status import field_violations


@pytest.fixture(params=["memory", "redis"])
def make_settings(request: pytest.FixtureRequest) -> Callable[..., CacheSettings]:
    return request.getfixturevalue(f"{request.param}_settings")


@pytest.fixture
def clock() -> ManualClock:
    # Sub-millisecond digits: stores keep milliseconds, and Store and Lookup must agree.
    return ManualClock(datetime(2026, 3, 1, 12, 0, 0, 123_456, tzinfo=UTC))


async def start(serve: Any, settings: CacheSettings, clock: ManualClock) -> Client:
    return Client(await serve("cache", settings=settings, clock=clock))


async def test_lookup_after_store_returns_entry_with_metadata(serve, make_settings, clock) -> None:
    cache = await start(serve, make_settings(), clock)
    assert not await cache.found("k1")
    meta = cache_pb2.EntryMetadata(
        backend="openai", model="gpt", original_latency=seconds(1.5), cost_usd=0.002,
        prompt_tokens=10, completion_tokens=20, namespaces=["topic:code"],
    )
    stored = await cache.store("k1", b"forty-two", metadata=meta, ttl=60)
    assert stored.stored and not stored.degraded and not stored.compressed
    expected = clock.now() + timedelta(seconds=60)
    assert timedelta(0) <= expected - stored.expires_at.ToDatetime(UTC) < timedelta(milliseconds=1)

    first = await cache.lookup("k1")
    second = await cache.lookup("k1")
    assert first.found and first.entry.value == b"forty-two"
    assert first.entry.metadata.backend == "openai" and first.entry.metadata.model == "gpt"
    assert first.entry.metadata.original_latency.ToMilliseconds() == 1500
    assert sorted(first.entry.metadata.namespaces) == ["backend:openai", "model:gpt", "topic:code"]
    assert (first.entry.hits, second.entry.hits) == (1, 2)
    assert first.entry.expires_at == stored.expires_at


async def test_least_recently_used_is_evicted_first(serve, make_settings, clock) -> None:
    cache = await start(serve, make_settings(cache_max_entries=3), clock)
    for key in ("a", "b", "c"):
        assert (await cache.store(key)).stored
    assert await cache.found("a")  # "b" is now the least recently used
    await cache.store("d")
    assert [await cache.found(k) for k in ("a", "b", "c", "d")] == [True, False, True, True]
    await cache.store("e")  # "a" was used before "c" and "d" were
    assert [await cache.found(k) for k in ("a", "c", "d", "e")] == [False, True, True, True]
    stats = await cache.stats()
    assert (stats.size, stats.max_size, stats.evictions) == (3, 3, 2)


async def test_restoring_a_key_replaces_it_without_growing(serve, make_settings, clock) -> None:
    cache = await start(serve, make_settings(cache_max_entries=2), clock)
    await cache.store("a", b"one")
    await cache.store("b")
    await cache.store("a", b"two")
    assert (await cache.lookup("a")).entry.value == b"two"
    assert await cache.found("b")
    stats = await cache.stats()
    assert (stats.size, stats.evictions) == (2, 0)


async def test_namespace_invalidation_removes_only_current_members(serve, make_settings, clock) -> None:
    cache = await start(serve, make_settings(), clock)
    await cache.store("k1", metadata=cache_pb2.EntryMetadata(backend="openai", model="gpt"))
    await cache.store("k2", metadata=cache_pb2.EntryMetadata(backend="ollama", model="llama3"))
    await cache.store("k3", metadata=cache_pb2.EntryMetadata(backend="openai", namespaces=["topic:x"]))
    await cache.store("k4", metadata=cache_pb2.EntryMetadata(backend="openai"))
    # k4 moves to another backend: it must not go with "backend:openai".
    await cache.store("k4", metadata=cache_pb2.EntryMetadata(backend="ollama"))

    removed = await cache.invalidate(namespace="backend:openai")
    assert (removed.removed, removed.degraded) == (2, False)
    assert [await cache.found(k) for k in ("k1", "k2", "k3", "k4")] == [False, True, False, True]
    assert (await cache.invalidate(namespace="backend:openai")).removed == 0
    assert (await cache.invalidate(namespace="model:llama3")).removed == 1
    assert (await cache.invalidate(key="k4")).removed == 1
    assert (await cache.invalidate(key="k4")).removed == 0
    assert (await cache.stats()).size == 0


async def test_statistics_add_up(serve, make_settings, clock) -> None:
    cache = await start(serve, make_settings(cache_max_entries=10), clock)
    meta = cache_pb2.EntryMetadata(backend="b", original_latency=seconds(2.0), cost_usd=0.01)
    await cache.store("hit-me", metadata=meta)
    await cache.store("other")
    for _ in range(3):
        assert await cache.found("hit-me")
    assert not await cache.found("nothing")
    stats = await cache.stats()
    assert (stats.size, stats.max_size, stats.hits, stats.misses, stats.requests_saved) == (2, 10, 3, 1, 3)
    assert stats.hit_rate == pytest.approx(0.75)
    assert stats.time_saved.ToMilliseconds() == 6000
    assert stats.cost_saved == pytest.approx(0.03)
    assert stats.default_ttl.ToSeconds() == 3600
    assert 0 < stats.efficiency_score <= 100
    assert stats.advice and not stats.auto_ttl and not stats.degraded


async def test_store_kind_follows_the_settings(serve, make_settings, clock) -> None:
    settings = make_settings()
    stats = await (await start(serve, settings, clock)).stats()
    expected = cache_pb2.STORE_KIND_REDIS if settings.redis_url else cache_pb2.STORE_KIND_MEMORY
    assert stats.store == expected


async def test_tenants_never_see_each_others_entries(serve, make_settings, clock) -> None:
    running = await serve("cache", settings=make_settings(), clock=clock)
    acme, globex, anonymous = Client(running, "acme"), Client(running, "globex"), Client(running)
    await acme.store("shared-key", b"acme's", metadata=cache_pb2.EntryMetadata(backend="openai"))
    await globex.store("shared-key", b"globex's", metadata=cache_pb2.EntryMetadata(backend="openai"))
    assert (await acme.lookup("shared-key")).entry.value == b"acme's"
    assert (await globex.lookup("shared-key")).entry.value == b"globex's"
    assert not await anonymous.found("shared-key")  # the "default" tenant
    assert not await Client(running, "default").found("shared-key")

    assert (await globex.invalidate(namespace="backend:openai")).removed == 1
    assert (await acme.lookup("shared-key")).entry.value == b"acme's"
    assert (await anonymous.invalidate(key="shared-key")).removed == 0
    assert await acme.found("shared-key")

    # No header is the "default" tenant, and so is an empty one.
    await anonymous.store("mine", b"default's")
    assert (await Client(running, "default").lookup("mine")).entry.value == b"default's"
    assert (await Client(running, "").lookup("mine")).entry.value == b"default's"
    assert not await acme.found("mine")


async def test_large_values_are_compressed_and_round_trip(serve, make_settings, clock) -> None:
    cache = await start(serve, make_settings(cache_compress_min_bytes=1024), clock)
    text = ("The quick brown fox jumps over the lazy dog. " * 2000).encode()
    noise = os.urandom(50_000)  # incompressible: stored as is
    small = b"tiny answer"
    results = [await cache.store(k, v) for k, v in (("text", text), ("noise", noise), ("small", small))]
    assert [r.compressed for r in results] == [True, False, False]
    for key, value in (("text", text), ("noise", noise), ("small", small)):
        assert (await cache.lookup(key)).entry.value == value


async def test_oversized_values_and_bad_keys_are_invalid_argument(serve, make_settings, clock) -> None:
    cache = await start(serve, make_settings(cache_max_value_bytes=1000), clock)
    assert (await cache.store("fits", b"x" * 1000)).stored
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cache.store("too-big", b"x" * 1001)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(caught.value)] == ["value"]
    assert "1001 bytes" in field_violations(caught.value)[0].description

    for bad in ("", "k" * 257):
        for call in (cache.lookup(bad), cache.store(bad), cache.invalidate(key=bad)):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [v.field for v in field_violations(caught.value)] == ["key"]
    assert (await cache.store("k" * 256)).stored

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cache.invalidate()
    assert [v.field for v in field_violations(caught.value)] == ["target"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cache.store("k", ttl=-1)
    assert [v.field for v in field_violations(caught.value)] == ["ttl"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cache.store("k", b"", metadata=cache_pb2.EntryMetadata(cost_usd=-1))
    assert sorted(v.field for v in field_violations(caught.value)) == ["metadata.cost_usd", "value"]


async def test_requested_ttl_is_capped_at_the_maximum(serve, make_settings, clock) -> None:
    cache = await start(serve, make_settings(cache_max_ttl_s=7200), clock)
    stored = await cache.store("k", ttl=10 * 86_400)
    assert (stored.expires_at.ToDatetime(UTC) - clock.now()).total_seconds() == pytest.approx(7200, abs=0.001)
    default = await cache.store("d")
    assert (default.expires_at.ToDatetime(UTC) - clock.now()).total_seconds() == pytest.approx(3600, abs=0.001)
