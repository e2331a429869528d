"""Redis stopped mid-run and started again. The shared test Redis is never
touched: this test runs its own throwaway redis-server on a free port."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from cache_support import Client

from switchboard.runtime.clock import ManualClock
from switchboard.testing.infra import free_port

REDIS_SERVER = shutil.which("redis-server")


class ThrowawayRedis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        assert REDIS_SERVER is not None
        self._proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            for _ in range(100):
                try:
                    if await client.ping():
                        return
                except (aioredis.ConnectionError, OSError):
                    await asyncio.sleep(0.05)
            raise AssertionError(f"redis-server on port {self.port} did not come up")
        finally:
            await client.aclose()

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server binary not installed")
    server = ThrowawayRedis(free_port())
    yield server
    server.kill()


async def test_redis_stopped_mid_run_and_restarted(serve, redis_settings, throwaway_redis) -> None:
    await throwaway_redis.start()
    clock = ManualClock()
    settings = redis_settings(
        redis_url=throwaway_redis.url,
        cache_redis_timeout_s=0.5,
        cache_breaker_failure_threshold=2,
        cache_breaker_open_s=10,
    )
    cache = Client(await serve("cache", settings=settings, clock=clock))
    assert (await cache.store("before", b"v")).stored
    assert await cache.found("before")

    throwaway_redis.kill()
    # Every call still answers (within its 5 s deadline), as a miss that says why.
    down = [await cache.lookup("before") for _ in range(3)]
    assert all(r.degraded and not r.found for r in down)
    assert "breaker open" in down[-1].degraded_reason  # the breaker stopped asking
    assert not (await cache.store("during", b"v")).stored

    await throwaway_redis.start()  # same port, empty (no persistence)
    still_open = await cache.lookup("before")
    assert still_open.degraded and "breaker open" in still_open.degraded_reason

    clock.advance(10)  # the breaker lets one probe through, which succeeds
    recovered = await cache.lookup("before")
    assert (recovered.found, recovered.degraded) == (False, False), recovered.degraded_reason
    assert (await cache.store("after", b"again")).stored
    assert (await cache.lookup("after")).entry.value == b"again"
    stats = await cache.stats()
    assert not stats.degraded and stats.size == 1
