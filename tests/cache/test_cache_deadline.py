"""The caller's deadline, not only the per-call Redis timeout, bounds every cache
call: a hung Redis is answered as a degraded miss before the caller gives up.
A deadline too tight to give Redis a fair chance is no verdict on Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
from cache_support import silent_server, stub

from services.cache.breaker import Breaker, BreakerState
from services.cache.guarded import GuardedStore
from services.cache.model import StoreBusy, StoreUnavailable
from services.cache.store_redis import RedisStore, connect
from switchboard.cache.v1 import cache_pb2
from switchboard.runtime.clock import ManualClock


@contextlib.asynccontextmanager
async def hung_redis() -> AsyncIterator[str]:
    async with silent_server() as port:
        yield f"redis://127.0.0.1:{port}/0"


async def test_every_rpc_answers_within_the_callers_deadline_when_redis_hangs(serve, redis_settings) -> None:
    async with hung_redis() as url:
        # Redis may take 2 s a call; the caller allows 0.3 s.
        settings = redis_settings(redis_url=url, cache_redis_timeout_s=2.0, cache_breaker_failure_threshold=1)
        cache = stub(await serve("cache", settings=settings, clock=ManualClock()))
        calls = [
            cache.Lookup(cache_pb2.LookupRequest(key="k"), timeout=0.3),
            cache.Store(cache_pb2.StoreRequest(key="k", value=b"v"), timeout=0.3),
            cache.Invalidate(cache_pb2.InvalidateRequest(namespace="backend:b"), timeout=0.3),
            cache.Stats(cache_pb2.StatsRequest(), timeout=0.3),
        ]
        for call in calls:
            try:
                answer = await call
            except grpc.aio.AioRpcError as exc:  # what a cache without the fix answers
                pytest.fail(f"{exc.code().name}: the cache did not answer within the caller's deadline")
            assert answer.degraded and "did not answer within" in answer.degraded_reason, answer
        # Cut short by the caller, Redis never got its 2 s: no verdict, the breaker stays closed.
        again = await cache.Lookup(cache_pb2.LookupRequest(key="k"), timeout=0.3)
        assert again.degraded and "breaker open" not in again.degraded_reason


@pytest.fixture
async def guarded_on_hung_redis() -> AsyncIterator[tuple[GuardedStore, Breaker, ManualClock]]:
    clock = ManualClock()
    async with hung_redis() as url:
        client = connect(url, timeout_s=5.0, max_connections=4)
        breaker = Breaker("redis", clock=clock, failure_threshold=1, open_s=10)
        store = GuardedStore(RedisStore(client, prefix="t:", max_entries=10), breaker=breaker, timeout_s=0.2)
        yield store, breaker, clock
        await store.close()


async def test_a_fair_budget_that_runs_out_counts_against_redis(guarded_on_hung_redis) -> None:
    store, breaker, _ = guarded_on_hung_redis
    # 0.15 s of the 0.2 s Redis timeout: Redis had its chance, the breaker opens.
    with pytest.raises(StoreUnavailable, match="did not answer within 150 ms"):
        await store.within(0.15).get("default", "k")
    assert breaker.state is BreakerState.OPEN


async def test_a_tight_budget_is_inconclusive(guarded_on_hung_redis) -> None:
    store, breaker, _ = guarded_on_hung_redis
    with pytest.raises(StoreUnavailable, match="did not answer within 50 ms"):
        await store.within(0.05).get("default", "k")
    assert breaker.state is BreakerState.CLOSED


async def test_a_time_out_while_this_process_runs_late_is_inconclusive(serve, redis_settings) -> None:
    """A saturated cache reads Redis's answers late: that is no verdict on Redis."""
    async with hung_redis() as url:
        settings = redis_settings(redis_url=url, cache_redis_timeout_s=0.1, cache_breaker_failure_threshold=1)
        running = await serve("cache", settings=settings, clock=ManualClock())
        cache = stub(running)
        await running.runtime.lag_probe.stop()  # the test says how late the loop runs
        for _ in range(5):
            running.runtime.load.observe(0.08)  # the loop runs 80 ms late: over half the 100 ms budget
        late = await cache.Lookup(cache_pb2.LookupRequest(key="k"), timeout=5)
        assert late.degraded and "event loop runs 80 ms late" in late.degraded_reason
        again = await cache.Lookup(cache_pb2.LookupRequest(key="k"), timeout=5)
        assert "breaker open" not in again.degraded_reason  # nothing was held against Redis
        for _ in range(5):
            running.runtime.load.observe(0.0)  # on time again: now the time-out is Redis's
        await cache.Lookup(cache_pb2.LookupRequest(key="k"), timeout=5)
        after = await cache.Lookup(cache_pb2.LookupRequest(key="k"), timeout=5)
        assert after.degraded and "breaker open" in after.degraded_reason


async def test_a_busy_connection_pool_is_no_verdict_on_redis(redis_url: str, redis_prefix: str) -> None:
    """Every pooled connection in use is this process's load: the call is answered
    as a miss and the breaker stays closed."""
    client = connect(redis_url, timeout_s=0.05, max_connections=1)
    store = RedisStore(client, prefix=redis_prefix, max_entries=10)
    breaker = Breaker("redis", clock=ManualClock(), failure_threshold=1, open_s=10)
    guarded = GuardedStore(store, breaker=breaker, timeout_s=1.0)
    held = await client.connection_pool.get_connection()  # someone else's call holds the only connection
    try:
        with pytest.raises(StoreBusy, match="every pooled connection is busy"):
            await guarded.get("default", "k")
        assert breaker.state is BreakerState.CLOSED
    finally:
        await client.connection_pool.release(held)
    assert await guarded.get("default", "k") is None  # and Redis answers once a connection is free
    await guarded.close()


async def test_no_time_left_skips_redis_without_taking_the_probe_slot(guarded_on_hung_redis) -> None:
    store, breaker, clock = guarded_on_hung_redis
    with pytest.raises(StoreUnavailable):
        await store.get("default", "k")  # no caller deadline: the full 0.2 s, then open
    assert breaker.state is BreakerState.OPEN
    clock.advance(10)  # a probe may go now
    with pytest.raises(StoreUnavailable, match="leaves no time"):
        await store.within(0.0).get("default", "k")
    assert breaker.state is BreakerState.OPEN and breaker.retry_in() == 0  # the slot is still free
    assert breaker.allow() and breaker.state is BreakerState.HALF_OPEN
