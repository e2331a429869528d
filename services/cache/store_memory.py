"""The in-memory store of the embedded default: LRU order, TTL from the injected
clock, a maximum entry count, and a namespace index kept exactly in step."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

from services.cache.model import Counters, StoredEntry, StoreKind
from switchboard.runtime.clock import Clock

_Id = tuple[str, str]  # (tenant, key)


@dataclass
class _Slot:
    entry: StoredEntry
    expires_mono: float  # on the clock's monotonic scale


class MemoryStore:
    kind: StoreKind = "memory"

    def __init__(self, *, max_entries: int, clock: Clock) -> None:
        self._max = max_entries
        self._clock = clock
        # Least recently used first.
        self._slots: OrderedDict[_Id, _Slot] = OrderedDict()
        self._by_namespace: dict[tuple[str, str], set[str]] = {}
        self._hits = 0
        self._misses = 0
        self._stores = 0
        self._evictions = 0
        self._time_saved_s = 0.0
        self._cost_saved = 0.0

    def within(self, budget_s: float | None) -> MemoryStore:
        return self  # answers at once, whatever the deadline

    def _live(self, ident: _Id) -> _Slot | None:
        slot = self._slots.get(ident)
        if slot is not None and slot.expires_mono <= self._clock.monotonic():
            self._remove(ident)
            return None
        return slot

    def _remove(self, ident: _Id) -> _Slot | None:
        slot = self._slots.pop(ident, None)
        if slot is not None:
            tenant, key = ident
            for namespace in slot.entry.meta.namespaces:
                members = self._by_namespace.get((tenant, namespace))
                if members is not None:
                    members.discard(key)
                    if not members:
                        del self._by_namespace[(tenant, namespace)]
        return slot

    def _purge_expired(self) -> None:
        now = self._clock.monotonic()
        for ident in [i for i, s in self._slots.items() if s.expires_mono <= now]:
            self._remove(ident)

    async def get(self, tenant: str, key: str) -> StoredEntry | None:
        ident = (tenant, key)
        slot = self._live(ident)
        if slot is None:
            self._misses += 1
            return None
        self._slots.move_to_end(ident)
        slot.entry = dataclasses.replace(slot.entry, hits=slot.entry.hits + 1)
        self._hits += 1
        self._time_saved_s += slot.entry.meta.original_latency_s
        self._cost_saved += slot.entry.meta.cost_usd
        return slot.entry

    async def put(self, tenant: str, entry: StoredEntry, ttl_s: float) -> None:
        ident = (tenant, entry.key)
        self._remove(ident)
        self._slots[ident] = _Slot(entry, self._clock.monotonic() + ttl_s)
        for namespace in entry.meta.namespaces:
            self._by_namespace.setdefault((tenant, namespace), set()).add(entry.key)
        self._stores += 1
        if len(self._slots) > self._max:
            # Expired entries go first and are not evictions.
            self._purge_expired()
        while len(self._slots) > self._max:
            oldest = next(iter(self._slots))
            self._remove(oldest)
            self._evictions += 1

    async def delete(self, tenant: str, key: str) -> int:
        if self._live((tenant, key)) is None:
            return 0
        self._remove((tenant, key))
        return 1

    async def delete_namespace(self, tenant: str, namespace: str) -> int:
        removed = 0
        for key in list(self._by_namespace.get((tenant, namespace), ())):
            removed += await self.delete(tenant, key)
        return removed

    async def counters(self) -> Counters:
        self._purge_expired()
        return Counters(
            size=len(self._slots),
            hits=self._hits,
            misses=self._misses,
            stores=self._stores,
            evictions=self._evictions,
            time_saved_s=self._time_saved_s,
            cost_saved_usd=self._cost_saved,
        )

    async def close(self) -> None:
        self._slots.clear()
        self._by_namespace.clear()
