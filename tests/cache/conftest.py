"""Fixtures of the cache suite: settings for an in-memory or a Redis-backed cache
(the Redis keys of a test are removed afterwards). Plain helpers are in
cache_support.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.cache.settings import CacheSettings
from switchboard.runtime.settings import MeshSettings


@pytest.fixture
def memory_settings(mesh_settings: MeshSettings) -> Callable[..., CacheSettings]:
    """memory_settings(**overrides): an in-memory cache whatever the environment says."""

    def build(**overrides: Any) -> CacheSettings:
        fields = {**mesh_settings.model_dump(), "redis_url": None, **overrides}
        return CacheSettings(**fields)

    return build


@pytest.fixture
async def redis_settings(
    mesh_settings: MeshSettings, redis_url: str, redis_prefix: str
) -> AsyncIterator[Callable[..., CacheSettings]]:
    """redis_settings(**overrides): a cache on the shared test Redis under this
    test's prefix. The per-call budget is generous here because the machine is
    shared; the outage tests set their own."""

    def build(**overrides: Any) -> CacheSettings:
        fields = {
            **mesh_settings.model_dump(),
            "redis_url": redis_url,
            "cache_redis_prefix": redis_prefix,
            "cache_redis_timeout_s": 2.0,
            **overrides,
        }
        return CacheSettings(**fields)

    yield build
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{redis_prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
