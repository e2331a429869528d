"""The cache service reports its lookups (hit / miss) and its Redis breaker's
state through the runtime's domain instruments (runtime.metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cache_support import Client
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from services.cache.settings import CacheSettings
from switchboard.runtime.clock import ManualClock
from switchboard.runtime.metrics import BREAKER_STATE_GAUGE, BREAKER_TRANSITIONS, CACHE_LOOKUPS
from switchboard.runtime.server import Runtime
from switchboard.testing.infra import free_port
from switchboard.testing.services import RunningService, start_service


class Metered:
    """Cache servers whose metrics land in one in-memory reader."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        self.started: list[RunningService] = []

    async def serve(self, settings: CacheSettings, clock: ManualClock) -> Client:
        running = await start_service("cache", Runtime(settings, clock=clock, meter_provider=self.provider))
        self.started.append(running)
        return Client(running)

    def points(self, metric: str) -> dict[tuple[tuple[str, Any], ...], Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return {}
        return {
            tuple(sorted((p.attributes or {}).items())): p.value
            for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == metric
            for p in m.data.data_points
        }


@pytest.fixture
async def metered() -> AsyncIterator[Metered]:
    recorder = Metered()
    yield recorder
    for running in reversed(recorder.started):
        await running.stop()
    recorder.provider.shutdown()


@pytest.fixture(params=["memory", "redis"])
def make_settings(request: pytest.FixtureRequest) -> Callable[..., CacheSettings]:
    return request.getfixturevalue(f"{request.param}_settings")


async def test_lookups_are_counted_as_hits_and_misses(metered: Metered, make_settings) -> None:
    cache = await metered.serve(make_settings(), ManualClock())
    await cache.store("k", b"v")
    assert await cache.found("k") and await cache.found("k")
    assert not await cache.found("absent")
    counted = metered.points(CACHE_LOOKUPS)
    assert counted == {(("switchboard.cache.result", "hit"),): 2, (("switchboard.cache.result", "miss"),): 1}


async def test_redis_breaker_state_and_transitions_are_reported(metered: Metered, redis_settings) -> None:
    clock = ManualClock()
    settings = redis_settings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens: every call fails
        cache_redis_timeout_s=0.5,
        cache_breaker_failure_threshold=1,
        cache_breaker_open_s=5,
    )
    cache = await metered.serve(settings, clock)
    redis = (("switchboard.breaker", "redis"),)
    assert metered.points(BREAKER_STATE_GAUGE) == {redis: 0}  # closed, reported at start
    assert metered.points(BREAKER_TRANSITIONS) == {}

    missed = await cache.lookup("k")
    assert missed.degraded and not missed.found
    assert metered.points(BREAKER_STATE_GAUGE) == {redis: 2}  # open
    clock.advance(5)
    await cache.lookup("k")  # the half-open probe fails: open again
    assert metered.points(BREAKER_STATE_GAUGE) == {redis: 2}
    transitions = {dict(attrs)["switchboard.breaker.state"]: n for attrs, n in metered.points(BREAKER_TRANSITIONS).items()}
    assert transitions == {"open": 2, "half_open": 1}
    # A degraded lookup is a miss to the caller.
    assert metered.points(CACHE_LOOKUPS) == {(("switchboard.cache.result", "miss"),): 2}
