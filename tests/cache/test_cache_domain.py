"""Unit tests of the cache's pure domain logic: efficiency score, advice, the
automatic TTL decision, the breaker, compression, and the façade's handling of
a store that is unavailable."""

from __future__ import annotations

import logging
import os

import pytest

from services.cache.advice import (
    TtlPolicy,
    TuningBounds,
    advise,
    efficiency_score,
    hit_rate,
    next_ttl,
)
from services.cache.breaker import Breaker, BreakerState
from services.cache.cache import CacheLimits, ResponseCache, complete_meta
from services.cache.codec import compress, decompress, meta_from_json, meta_to_json
from services.cache.model import Counters, EntryMeta, StoreUnavailable
from services.cache.store_memory import MemoryStore
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.status import InvalidArgument

BOUNDS = TuningBounds(min_ttl_s=60, max_ttl_s=86_400, low_hit_rate=0.2, min_lookups=50)


def test_hit_rate_is_zero_without_lookups() -> None:
    assert hit_rate(0, 0) == 0.0
    assert hit_rate(1, 3) == 0.25


def test_efficiency_score_is_hit_rate_weighted_by_time_saved_per_entry() -> None:
    assert efficiency_score(Counters()) == 0.0
    no_latency = efficiency_score(Counters(hits=80, misses=20, stores=20))
    slow_answers = efficiency_score(Counters(hits=80, misses=20, stores=20, time_saved_s=80 * 3.0))
    worse_rate = efficiency_score(Counters(hits=40, misses=60, stores=60, time_saved_s=40 * 3.0))
    assert no_latency == 40.0  # 80% hit rate, half weight
    assert no_latency < slow_answers <= 80.0
    assert worse_rate < slow_answers
    assert efficiency_score(Counters(hits=10**6, misses=0, stores=1, time_saved_s=10**9)) == pytest.approx(100, abs=0.01)


def test_advice_suggests_a_longer_ttl_on_a_low_hit_rate_within_bounds() -> None:
    low = Counters(hits=4, misses=96, stores=96)
    [tip] = advise(low, max_size=1000, ttl_s=3600, bounds=BOUNDS, auto_ttl=False)
    assert tip == "hit rate 4%: consider a longer TTL (now 1h, at most 1d)"
    [tip] = advise(low, max_size=1000, ttl_s=86_400, bounds=BOUNDS, auto_ttl=False)
    assert "at the longest TTL (1d)" in tip


def test_advice_covers_thrashing_good_rates_few_lookups_and_auto_ttl() -> None:
    thrash = Counters(hits=10, misses=90, stores=90, evictions=80)
    tips = advise(thrash, max_size=100, ttl_s=3600, bounds=BOUNDS, auto_ttl=True)
    assert "raise SWITCHBOARD_CACHE_MAX_ENTRIES" in tips[0]
    assert tips[-1] == "automatic TTL adjustment is on (between 1min and 1d)"
    assert advise(Counters(hits=70, misses=30), max_size=1, ttl_s=1, bounds=BOUNDS, auto_ttl=False) == [
        "hit rate 70%: the cache is working well"
    ]
    assert "too few" in advise(Counters(hits=1, misses=2), max_size=1, ttl_s=1, bounds=BOUNDS, auto_ttl=False)[0]
    assert advise(Counters(), max_size=1, ttl_s=1, bounds=BOUNDS, auto_ttl=False) == ["no lookups yet: nothing to tune"]


def test_next_ttl_doubles_on_a_low_hit_rate_up_to_the_maximum() -> None:
    low = Counters(hits=5, misses=95, stores=95)
    change = next_ttl(3600, low, BOUNDS)
    assert change is not None and (change.old_s, change.new_s) == (3600, 7200)
    assert "hit rate 5% over 100 lookups" in change.reason
    assert next_ttl(60_000, low, BOUNDS).new_s == 86_400  # type: ignore[union-attr]
    assert next_ttl(86_400, low, BOUNDS) is None
    assert next_ttl(3600, Counters(hits=50, misses=50), BOUNDS) is None  # good enough
    assert next_ttl(3600, Counters(hits=1, misses=9), BOUNDS) is None  # too few lookups
    assert next_ttl(3600, Counters(hits=5, misses=95, stores=95, evictions=60), BOUNDS) is None  # thrashing


def test_ttl_policy_reviews_windows_and_stays_put_when_off() -> None:
    off = TtlPolicy(3600, BOUNDS, auto=False)
    assert off.review(Counters(misses=1000)) is None and off.current_s == 3600

    policy = TtlPolicy(3600, BOUNDS, auto=True)
    assert policy.review(Counters(misses=30)) is None  # gathering: 30 < 50
    assert policy.review(Counters(misses=60)).new_s == 7200  # type: ignore[union-attr]
    # The next window counts only what came after: 40 good lookups → no change.
    assert policy.review(Counters(hits=40, misses=60)) is None
    assert policy.review(Counters(hits=100, misses=60)) is None and policy.current_s == 7200
    # Counters that went backwards (Redis restarted) start a fresh window.
    assert policy.review(Counters(misses=55)).new_s == 14_400  # type: ignore[union-attr]


def test_breaker_opens_refuses_half_opens_and_closes() -> None:
    clock = ManualClock()
    breaker = Breaker("redis", clock=clock, failure_threshold=3, open_s=5)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure("boom")
    assert breaker.allow()
    breaker.record_success()  # resets the count: failures must be consecutive
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure("boom")
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert breaker.retry_in() == 5
    clock.advance(5)
    assert breaker.allow() and breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # one probe at a time
    breaker.record_failure("still down")
    assert breaker.state is BreakerState.OPEN and breaker.last_error == "still down"
    clock.advance(5)
    assert breaker.allow()
    breaker.release()  # the probe was cancelled: no verdict, the slot is free again
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()


def test_breaker_logs_each_transition_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    breaker = Breaker("redis", clock=clock, failure_threshold=1, open_s=1)
    with caplog.at_level(logging.WARNING, logger="switchboard.cache.breaker"):
        breaker.record_failure("x")
        assert not breaker.allow() and not breaker.allow()
        clock.advance(1)
        assert breaker.allow()
        breaker.record_success()
    assert [r.getMessage() for r in caplog.records] == [
        "breaker redis: closed -> open",
        "breaker redis: open -> half_open",
        "breaker redis: half_open -> closed",
    ]


def test_compression_only_when_large_enough_and_it_helps() -> None:
    text = b"abc" * 10_000
    packed, compressed = compress(text, 4096)
    assert compressed and len(packed) < len(text) and decompress(packed, True) == text
    assert compress(b"abc" * 100, 4096) == (b"abc" * 100, False)
    noise = os.urandom(10_000)  # would grow: kept as is
    assert compress(noise, 0) == (noise, False)


def test_metadata_round_trips_and_implied_namespaces_are_added() -> None:
    meta = complete_meta(EntryMeta(backend="openai", model="gpt", original_latency_s=1.25, cost_usd=0.5,
                                   prompt_tokens=3, completion_tokens=4, namespaces=("z", "backend:openai")))
    assert meta.namespaces == ("backend:openai", "model:gpt", "z")
    assert meta_from_json(meta_to_json(meta)) == meta
    assert complete_meta(EntryMeta()).namespaces == ()


class DownStore(MemoryStore):
    """A store that cannot answer, as a remote store does when it is down."""

    async def get(self, tenant, key):  # type: ignore[no-untyped-def]
        raise StoreUnavailable("redis: ConnectionError: refused")

    async def put(self, tenant, entry, ttl_s):  # type: ignore[no-untyped-def]
        raise StoreUnavailable("redis: ConnectionError: refused")

    async def counters(self):  # type: ignore[no-untyped-def]
        raise StoreUnavailable("redis: ConnectionError: refused")


def _cache(store: MemoryStore, clock: ManualClock, auto: bool = False) -> ResponseCache:
    limits = CacheLimits(max_entries=10, max_value_bytes=100, compress_min_bytes=50, max_ttl_s=86_400)
    bounds = TuningBounds(min_ttl_s=60, max_ttl_s=86_400, low_hit_rate=0.2, min_lookups=2)
    return ResponseCache(store, limits=limits, ttl=TtlPolicy(3600, bounds, auto=auto), clock=clock)


async def test_an_unavailable_store_degrades_instead_of_failing() -> None:
    clock = ManualClock()
    cache = _cache(DownStore(max_entries=10, clock=clock), clock, auto=True)
    looked = await cache.lookup("default", "k")
    assert not looked.found and looked.degraded_reason == "redis: ConnectionError: refused"
    stored = await cache.store("default", "k", b"v", None, EntryMeta())
    assert not stored.stored and stored.degraded_reason
    stats = await cache.stats()
    assert stats.degraded_reason and stats.counters == Counters()
    assert await cache.review_ttl() is None
    with pytest.raises(InvalidArgument):  # bad input is still the caller's error
        await cache.store("default", "k", b"x" * 101, None, EntryMeta())


async def test_review_ttl_logs_when_it_acts(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    cache = _cache(MemoryStore(max_entries=10, clock=clock), clock, auto=True)
    await cache.lookup("default", "a")
    await cache.lookup("default", "b")
    with caplog.at_level(logging.INFO, logger="switchboard.cache"):
        change = await cache.review_ttl()
    assert change is not None and change.new_s == 7200
    [record] = [r for r in caplog.records if r.name == "switchboard.cache"]
    assert record.new_ttl_s == 7200 and "hit rate 0%" in record.reason  # type: ignore[attr-defined]
