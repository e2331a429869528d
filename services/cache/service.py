"""Thin gRPC layer of the cache service: proto <-> domain, the caller's tenant
from metadata. Validation errors are raised as InvalidArgument by the domain and
become INVALID_ARGUMENT at the error boundary; store faults are answered as
degraded results, never as error statuses."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from services.cache.cache import ResponseCache
from services.cache.model import Entry, EntryMeta
from switchboard.cache.v1 import cache_pb2, cache_pb2_grpc
from switchboard.runtime.status import FieldViolation, InvalidArgument
from switchboard.runtime.tenant import tenant_or_default

_KINDS = {"redis": cache_pb2.STORE_KIND_REDIS, "memory": cache_pb2.STORE_KIND_MEMORY}

# Kept back from the caller's remaining time to send the answer before its deadline.
_MIN_MARGIN_S = 0.005
_MARGIN_SHARE = 0.1


def budget_of(context: grpc.aio.ServicerContext) -> float | None:
    """Seconds the store may take so the (degraded) answer still beats the
    caller's deadline; None when the caller set no deadline."""
    remaining = context.time_remaining()
    if remaining is None:
        return None
    return max(0.0, remaining - max(_MIN_MARGIN_S, remaining * _MARGIN_SHARE))


def _timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(seconds=seconds))
    return duration


def _seconds(duration: duration_pb2.Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def _meta_from_proto(meta: cache_pb2.EntryMetadata) -> EntryMeta:
    return EntryMeta(
        backend=meta.backend,
        model=meta.model,
        original_latency_s=_seconds(meta.original_latency),
        cost_usd=meta.cost_usd,
        prompt_tokens=meta.prompt_tokens,
        completion_tokens=meta.completion_tokens,
        namespaces=tuple(meta.namespaces),
    )


def _meta_to_proto(meta: EntryMeta) -> cache_pb2.EntryMetadata:
    return cache_pb2.EntryMetadata(
        backend=meta.backend,
        model=meta.model,
        original_latency=_duration(meta.original_latency_s),
        cost_usd=meta.cost_usd,
        prompt_tokens=meta.prompt_tokens,
        completion_tokens=meta.completion_tokens,
        namespaces=list(meta.namespaces),
    )


def _entry_to_proto(entry: Entry) -> cache_pb2.CacheEntry:
    return cache_pb2.CacheEntry(
        key=entry.key,
        value=entry.value,
        metadata=_meta_to_proto(entry.meta),
        stored_at=_timestamp(entry.stored_at),
        expires_at=_timestamp(entry.expires_at),
        hits=entry.hits,
    )


class CacheServiceServicer(cache_pb2_grpc.CacheServiceServicer):
    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    async def Lookup(  # noqa: N802
        self, request: cache_pb2.LookupRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.LookupResponse:
        result = await self._cache.lookup(tenant_or_default(context), request.key, budget_of(context))
        response = cache_pb2.LookupResponse(
            found=result.found, degraded=bool(result.degraded_reason), degraded_reason=result.degraded_reason
        )
        if result.entry is not None:
            response.entry.CopyFrom(_entry_to_proto(result.entry))
        return response

    async def Store(  # noqa: N802
        self, request: cache_pb2.StoreRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.StoreResponse:
        ttl = _seconds(request.ttl) if request.HasField("ttl") else None
        result = await self._cache.store(
            tenant_or_default(context), request.key, request.value, ttl, _meta_from_proto(request.metadata),
            budget_of(context),
        )
        response = cache_pb2.StoreResponse(
            stored=result.stored,
            compressed=result.compressed,
            degraded=bool(result.degraded_reason),
            degraded_reason=result.degraded_reason,
        )
        if result.expires_at is not None:
            response.expires_at.CopyFrom(_timestamp(result.expires_at))
        return response

    async def Invalidate(  # noqa: N802
        self, request: cache_pb2.InvalidateRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.InvalidateResponse:
        target = request.WhichOneof("target")
        tenant = tenant_or_default(context)
        if target == "key":
            result = await self._cache.invalidate_key(tenant, request.key, budget_of(context))
        elif target == "namespace":
            result = await self._cache.invalidate_namespace(tenant, request.namespace, budget_of(context))
        else:
            raise InvalidArgument([FieldViolation("target", "set exactly one of key or namespace")])
        return cache_pb2.InvalidateResponse(
            removed=result.removed, degraded=bool(result.degraded_reason), degraded_reason=result.degraded_reason
        )

    async def Stats(  # noqa: N802
        self, request: cache_pb2.StatsRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.StatsResponse:
        stats = await self._cache.stats(budget_of(context))
        counters = stats.counters
        return cache_pb2.StatsResponse(
            store=_KINDS[stats.store],
            size=counters.size,
            max_size=stats.max_size,
            hits=counters.hits,
            misses=counters.misses,
            hit_rate=stats.hit_rate,
            default_ttl=_duration(stats.default_ttl_s),
            requests_saved=counters.hits,
            time_saved=_duration(counters.time_saved_s),
            cost_saved=counters.cost_saved_usd,
            evictions=counters.evictions,
            efficiency_score=stats.efficiency_score,
            advice=stats.advice,
            auto_ttl=stats.auto_ttl,
            degraded=bool(stats.degraded_reason),
            degraded_reason=stats.degraded_reason,
        )
