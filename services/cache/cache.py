"""The response cache as callers see it: validation, TTL choice, compression,
statistics and advice over any store. A store fault is answered as a degraded
miss (or stored=false), never raised: the router must carry on without us.
Every call takes `budget_s`, the time the caller's deadline leaves, so a slow
store is answered as a miss before the caller gives up."""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass
from datetime import timedelta

from services.cache import codec
from services.cache.advice import TtlChange, TtlPolicy, advise, efficiency_score, hit_rate
from services.cache.model import (
    CacheStats,
    Counters,
    Entry,
    EntryMeta,
    EntryStore,
    InvalidateResult,
    LookupResult,
    StoredEntry,
    StoreResult,
    StoreUnavailable,
)
from switchboard.runtime.clock import Clock
from switchboard.runtime.metrics import MeshMetrics
from switchboard.runtime.status import FieldViolation, InvalidArgument

log = logging.getLogger("switchboard.cache")

MAX_KEY_CHARS = 256
MAX_NAMESPACE_CHARS = 256


@dataclass(frozen=True)
class CacheLimits:
    max_entries: int
    max_value_bytes: int
    compress_min_bytes: int
    max_ttl_s: float


def _check_key(key: str) -> FieldViolation | None:
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        return FieldViolation("key", f"must be 1–{MAX_KEY_CHARS} characters, got {len(key)}")
    return None


def check_key(key: str) -> None:
    problem = _check_key(key)
    if problem is not None:
        raise InvalidArgument([problem])


def _check_namespace(namespace: str, field: str) -> FieldViolation | None:
    if not 1 <= len(namespace) <= MAX_NAMESPACE_CHARS:
        return FieldViolation(field, f"must be 1–{MAX_NAMESPACE_CHARS} characters, got {len(namespace)}")
    return None


def _finite_non_negative(value: float, field: str) -> FieldViolation | None:
    if not math.isfinite(value) or value < 0:
        return FieldViolation(field, f"must be a finite number ≥ 0, got {value!r}")
    return None


def complete_meta(meta: EntryMeta) -> EntryMeta:
    """Adds the implied namespaces ("backend:<b>", "model:<m>"); sorted, unique."""
    names = set(meta.namespaces)
    if meta.backend:
        names.add(f"backend:{meta.backend}")
    if meta.model:
        names.add(f"model:{meta.model}")
    return EntryMeta(
        backend=meta.backend,
        model=meta.model,
        original_latency_s=meta.original_latency_s,
        cost_usd=meta.cost_usd,
        prompt_tokens=meta.prompt_tokens,
        completion_tokens=meta.completion_tokens,
        namespaces=tuple(sorted(names)),
    )


class ResponseCache:
    def __init__(
        self,
        store: EntryStore,
        *,
        limits: CacheLimits,
        ttl: TtlPolicy,
        clock: Clock,
        metrics: MeshMetrics | None = None,
    ) -> None:
        self._store = store
        self._limits = limits
        self._ttl = ttl
        self._clock = clock
        self._metrics = metrics

    @property
    def ttl_policy(self) -> TtlPolicy:
        return self._ttl

    async def lookup(self, tenant: str, key: str, budget_s: float | None = None) -> LookupResult:
        check_key(key)
        result = await self._lookup(tenant, key, budget_s)
        if self._metrics is not None:
            self._metrics.cache_lookup(hit=result.found)  # a degraded lookup is a miss to the caller
        return result

    async def _lookup(self, tenant: str, key: str, budget_s: float | None) -> LookupResult:
        try:
            stored = await self._store.within(budget_s).get(tenant, key)
        except StoreUnavailable as exc:
            return LookupResult(degraded_reason=str(exc))
        if stored is None:
            return LookupResult()
        try:
            value = codec.decompress(stored.data, stored.compressed)
        except zlib.error as exc:  # a corrupt entry is a miss
            log.warning("undecodable cache entry treated as a miss", extra={"error": str(exc)})
            return LookupResult()
        return LookupResult(
            Entry(stored.key, value, stored.meta, stored.stored_at, stored.expires_at, stored.hits)
        )

    def _validate_store(self, key: str, value: bytes, ttl_s: float | None, meta: EntryMeta) -> None:
        problems: list[FieldViolation | None] = [_check_key(key)]
        if not value:
            problems.append(FieldViolation("value", "must not be empty"))
        elif len(value) > self._limits.max_value_bytes:
            problems.append(
                FieldViolation("value", f"{len(value)} bytes is over the maximum of {self._limits.max_value_bytes} bytes")
            )
        if ttl_s is not None and (not math.isfinite(ttl_s) or ttl_s < 0):
            problems.append(FieldViolation("ttl", "must not be negative"))
        problems.append(_finite_non_negative(meta.original_latency_s, "metadata.original_latency"))
        problems.append(_finite_non_negative(meta.cost_usd, "metadata.cost_usd"))
        for i, namespace in enumerate(meta.namespaces):
            problems.append(_check_namespace(namespace, f"metadata.namespaces[{i}]"))
        found = [p for p in problems if p is not None]
        if found:
            raise InvalidArgument(found)

    async def store(
        self, tenant: str, key: str, value: bytes, ttl_s: float | None, meta: EntryMeta, budget_s: float | None = None
    ) -> StoreResult:
        """`ttl_s` None or 0 means the current default; above the maximum it is shortened."""
        self._validate_store(key, value, ttl_s, meta)
        ttl = min(ttl_s or self._ttl.current_s, self._limits.max_ttl_s)
        data, compressed = codec.compress(value, self._limits.compress_min_bytes)
        now = self._clock.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what every store keeps
        expires = now + timedelta(seconds=ttl)
        entry = StoredEntry(key, data, compressed, complete_meta(meta), now, expires)
        try:
            await self._store.within(budget_s).put(tenant, entry, ttl)
        except StoreUnavailable as exc:
            return StoreResult(stored=False, degraded_reason=str(exc))
        return StoreResult(stored=True, expires_at=expires, compressed=compressed)

    async def invalidate_key(self, tenant: str, key: str, budget_s: float | None = None) -> InvalidateResult:
        check_key(key)
        try:
            return InvalidateResult(await self._store.within(budget_s).delete(tenant, key))
        except StoreUnavailable as exc:
            return InvalidateResult(degraded_reason=str(exc))

    async def invalidate_namespace(
        self, tenant: str, namespace: str, budget_s: float | None = None
    ) -> InvalidateResult:
        problem = _check_namespace(namespace, "namespace")
        if problem is not None:
            raise InvalidArgument([problem])
        try:
            return InvalidateResult(await self._store.within(budget_s).delete_namespace(tenant, namespace))
        except StoreUnavailable as exc:
            return InvalidateResult(degraded_reason=str(exc))

    async def stats(self, budget_s: float | None = None) -> CacheStats:
        reason = ""
        try:
            counters = await self._store.within(budget_s).counters()
        except StoreUnavailable as exc:
            counters, reason = Counters(), str(exc)
        policy = self._ttl
        tips = advise(
            counters, max_size=self._limits.max_entries, ttl_s=policy.current_s, bounds=policy.bounds, auto_ttl=policy.auto
        )
        if reason:
            tips.insert(0, f"store unreachable, figures unavailable: {reason}")
        return CacheStats(
            store=self._store.kind,
            counters=counters,
            max_size=self._limits.max_entries,
            default_ttl_s=policy.current_s,
            hit_rate=hit_rate(counters.hits, counters.misses),
            efficiency_score=efficiency_score(counters),
            advice=tips,
            auto_ttl=policy.auto,
            degraded_reason=reason,
        )

    async def review_ttl(self) -> TtlChange | None:
        """One automatic TTL review (no-op when auto TTL is off); logs a change."""
        if not self._ttl.auto:
            return None
        try:
            counters = await self._store.counters()
        except StoreUnavailable:
            return None  # no figures, no decision
        change = self._ttl.review(counters)
        if change is not None:
            log.info(
                "default TTL adjusted from %gs to %gs: %s",
                change.old_s,
                change.new_s,
                change.reason,
                extra={"old_ttl_s": change.old_s, "new_ttl_s": change.new_s, "reason": change.reason},
            )
        return change
