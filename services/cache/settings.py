"""The cache service's settings (SWITCHBOARD_CACHE_*), on top of the mesh's.

The store is Redis when SWITCHBOARD_REDIS_URL is set, else this process's memory.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from switchboard.runtime.settings import MeshSettings

DAY_S = 86_400.0
MIB = 1024 * 1024


class CacheSettings(MeshSettings):
    cache_max_entries: int = Field(
        default=1000, ge=1, le=10_000_000,
        description="Entries kept before least-recently-used eviction (all tenants together).",
    )
    cache_default_ttl_s: float = Field(
        default=3600.0, gt=0, le=30 * DAY_S,
        description="Time to live of an entry stored without one (the starting point of auto TTL).",
    )
    cache_min_ttl_s: float = Field(
        default=60.0, gt=0, le=30 * DAY_S,
        description="Lower bound of the default TTL when it is adjusted automatically.",
    )
    cache_max_ttl_s: float = Field(
        default=DAY_S, gt=0, le=30 * DAY_S,
        description="Upper bound of any TTL: requested TTLs above it are shortened to it.",
    )
    cache_auto_ttl: bool = Field(
        default=False, description="Adjust the default TTL from the hit rate (logged when it acts)."
    )
    cache_auto_ttl_interval_s: float = Field(
        default=300.0, gt=0, le=DAY_S, description="Seconds between automatic TTL reviews."
    )
    cache_auto_ttl_min_lookups: int = Field(
        default=50, ge=1, le=10_000_000,
        description="Lookups a review window needs before the TTL may change.",
    )
    cache_low_hit_rate: float = Field(
        default=0.2, ge=0, le=1,
        description="Hit rate below which advice (and auto TTL) suggests a longer TTL.",
    )
    cache_max_value_bytes: int = Field(
        default=MIB, ge=1, le=64 * MIB,
        description="Largest value accepted (before compression); larger is INVALID_ARGUMENT.",
    )
    cache_compress_min_bytes: int = Field(
        default=4096, ge=0, le=64 * MIB,
        description="Values at least this large are stored zlib-compressed (when it helps).",
    )
    cache_redis_prefix: str = Field(
        default="switchboard:cache:", min_length=1, max_length=200,
        description="Prefix of every Redis key the cache writes (separates deployments and tests).",
    )
    cache_redis_timeout_s: float = Field(
        default=0.05, gt=0, le=10,
        description="Budget of one Redis round trip; slower counts as a failure (answered as a miss).",
    )
    cache_redis_max_connections: int = Field(
        default=32, ge=1, le=10_000, description="Size of the Redis connection pool."
    )
    cache_breaker_failure_threshold: int = Field(
        default=3, ge=1, le=1000,
        description="Consecutive Redis failures that open the breaker (calls then skip Redis).",
    )
    cache_breaker_open_s: float = Field(
        default=5.0, gt=0, le=3600,
        description="Seconds the breaker stays open before one probe call tests Redis again.",
    )

    @model_validator(mode="after")
    def _ttl_bounds(self) -> Self:
        if not self.cache_min_ttl_s <= self.cache_max_ttl_s:
            raise ValueError("SWITCHBOARD_CACHE_MIN_TTL_S must not exceed SWITCHBOARD_CACHE_MAX_TTL_S")
        if not self.cache_min_ttl_s <= self.cache_default_ttl_s <= self.cache_max_ttl_s:
            raise ValueError(
                "SWITCHBOARD_CACHE_DEFAULT_TTL_S must lie within "
                "[SWITCHBOARD_CACHE_MIN_TTL_S, SWITCHBOARD_CACHE_MAX_TTL_S]"
            )
        return self
