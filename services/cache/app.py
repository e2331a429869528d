"""Wires the cache service together (its composition root).

Redis when SWITCHBOARD_REDIS_URL is set (behind a time budget and a breaker),
else this process's memory. With SWITCHBOARD_CACHE_AUTO_TTL on, a background task
reviews the default TTL every SWITCHBOARD_CACHE_AUTO_TTL_INTERVAL_S. Lookups
(hit / miss) and the Redis breaker's state go to runtime.metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import grpc

from services.cache.advice import TtlPolicy, TuningBounds
from services.cache.breaker import Breaker, BreakerState
from services.cache.cache import CacheLimits, ResponseCache
from services.cache.guarded import GuardedStore
from services.cache.model import EntryStore
from services.cache.service import CacheServiceServicer
from services.cache.settings import CacheSettings
from services.cache.store_memory import MemoryStore
from services.cache.store_redis import RedisStore, connect
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.runtime.clock import Clock
from switchboard.runtime.metrics import MeshMetrics
from switchboard.runtime.server import Runtime

SETTINGS = CacheSettings

log = logging.getLogger("switchboard.cache")


def cache_settings(runtime: Runtime) -> CacheSettings:
    """The runtime's settings as CacheSettings (tests may hand plain MeshSettings)."""
    settings = runtime.settings
    if isinstance(settings, CacheSettings):
        return settings
    return CacheSettings(**settings.model_dump())


def build_store(
    settings: CacheSettings, clock: Clock, metrics: MeshMetrics | None = None,
    loop_lag: Callable[[], float] = lambda: 0.0,
) -> EntryStore:
    if not settings.redis_url:
        return MemoryStore(max_entries=settings.cache_max_entries, clock=clock)
    client = connect(
        settings.redis_url,
        timeout_s=settings.cache_redis_timeout_s,
        max_connections=settings.cache_redis_max_connections,
    )
    store = RedisStore(client, prefix=settings.cache_redis_prefix, max_entries=settings.cache_max_entries)
    breaker = Breaker(
        "redis",
        clock=clock,
        failure_threshold=settings.cache_breaker_failure_threshold,
        open_s=settings.cache_breaker_open_s,
        on_change=_report_breaker(metrics),
    )
    if metrics is not None:
        metrics.breaker_state(breaker.name, breaker.state.value, transition=False)
    return GuardedStore(store, breaker=breaker, timeout_s=settings.cache_redis_timeout_s, loop_lag=loop_lag)


def _report_breaker(metrics: MeshMetrics | None) -> Callable[[str, BreakerState], None] | None:
    if metrics is None:
        return None

    def report(name: str, state: BreakerState) -> None:
        metrics.breaker_state(name, state.value)

    return report


def build_cache(
    settings: CacheSettings, clock: Clock, store: EntryStore, metrics: MeshMetrics | None = None
) -> ResponseCache:
    bounds = TuningBounds(
        min_ttl_s=settings.cache_min_ttl_s,
        max_ttl_s=settings.cache_max_ttl_s,
        low_hit_rate=settings.cache_low_hit_rate,
        min_lookups=settings.cache_auto_ttl_min_lookups,
    )
    return ResponseCache(
        store,
        limits=CacheLimits(
            max_entries=settings.cache_max_entries,
            max_value_bytes=settings.cache_max_value_bytes,
            compress_min_bytes=settings.cache_compress_min_bytes,
            max_ttl_s=settings.cache_max_ttl_s,
        ),
        ttl=TtlPolicy(settings.cache_default_ttl_s, bounds, auto=settings.cache_auto_ttl),
        clock=clock,
        metrics=metrics,
    )


class CacheApp:
    """The ServiceApp: one servicer, plus the auto-TTL task when it is on."""

    def __init__(self, runtime: Runtime) -> None:
        self.settings = cache_settings(runtime)
        self._runtime = runtime
        self.store = build_store(self.settings, runtime.clock, runtime.metrics, loop_lag=lambda: runtime.load.lag_s)
        self.cache = build_cache(self.settings, runtime.clock, self.store, runtime.metrics)
        self.service_names = [cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name]
        self._tuner: asyncio.Task[None] | None = None

    def add_to_server(self, server: grpc.aio.Server) -> None:
        cache_pb2_grpc.add_CacheServiceServicer_to_server(CacheServiceServicer(self.cache), server)

    async def start(self) -> None:
        log.info(
            "cache store: %s",
            self.store.kind,
            extra={"store": self.store.kind, "max_entries": self.settings.cache_max_entries},
        )
        if self.settings.cache_auto_ttl:
            self._tuner = asyncio.create_task(self._tune(), name="cache-auto-ttl")

    async def _tune(self) -> None:
        while not self._runtime.stopping.is_set():
            await self._runtime.clock.sleep(self.settings.cache_auto_ttl_interval_s)
            await self.cache.review_ttl()

    async def stop(self) -> None:
        if self._tuner is not None:
            self._tuner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tuner
        await self.store.close()


def create(runtime: Runtime) -> CacheApp:
    return CacheApp(runtime)
