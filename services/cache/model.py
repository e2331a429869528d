"""The cache's domain types and the contract every store keeps (no gRPC here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

StoreKind = Literal["redis", "memory"]


class StoreUnavailable(Exception):
    """The store could not answer (down, slow, breaker open); the message says why.
    Callers turn it into a degraded miss, never into an error."""


class StoreBusy(StoreUnavailable):
    """This process could not ask the store (every pooled connection in use):
    local load, no verdict on the store."""


@dataclass(frozen=True)
class EntryMeta:
    """Where a cached answer came from and what it cost originally."""

    backend: str = ""
    model: str = ""
    original_latency_s: float = 0.0
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Complete list, including the implied "backend:<b>" and "model:<m>".
    namespaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredEntry:
    """An entry as a store keeps it: `data` is the value, zlib-compressed when
    `compressed`."""

    key: str
    data: bytes
    compressed: bool
    meta: EntryMeta
    stored_at: datetime
    expires_at: datetime
    hits: int = 0  # times served, including the lookup that returned it


@dataclass(frozen=True)
class Entry:
    """An entry as callers see it (value decompressed)."""

    key: str
    value: bytes
    meta: EntryMeta
    stored_at: datetime
    expires_at: datetime
    hits: int


@dataclass(frozen=True)
class Counters:
    """What a store counts. Shared by every replica when the store is Redis."""

    size: int = 0
    hits: int = 0
    misses: int = 0
    stores: int = 0
    evictions: int = 0
    time_saved_s: float = 0.0
    cost_saved_usd: float = 0.0

    @property
    def lookups(self) -> int:
        return self.hits + self.misses


@dataclass(frozen=True)
class LookupResult:
    entry: Entry | None = None
    degraded_reason: str = ""

    @property
    def found(self) -> bool:
        return self.entry is not None


@dataclass(frozen=True)
class StoreResult:
    stored: bool
    expires_at: datetime | None = None
    compressed: bool = False
    degraded_reason: str = ""


@dataclass(frozen=True)
class InvalidateResult:
    removed: int = 0
    degraded_reason: str = ""


@dataclass(frozen=True)
class CacheStats:
    store: StoreKind
    counters: Counters
    max_size: int
    default_ttl_s: float
    hit_rate: float
    efficiency_score: float
    advice: list[str] = field(default_factory=list)
    auto_ttl: bool = False
    degraded_reason: str = ""


class EntryStore(Protocol):
    """Where entries live. Keys are scoped by tenant; counters are global.
    Remote stores raise StoreUnavailable when they cannot answer."""

    kind: StoreKind

    def within(self, budget_s: float | None) -> EntryStore:
        """This store for calls that must answer within `budget_s` seconds (what
        the caller's deadline leaves; None: no deadline). A store that answers
        at once returns itself."""
        ...

    async def get(self, tenant: str, key: str) -> StoredEntry | None:
        """The live entry (counting a hit, refreshing its recency) or None (a miss)."""
        ...

    async def put(self, tenant: str, entry: StoredEntry, ttl_s: float) -> None:
        """Stores or replaces the entry, evicting the least recently used beyond the bound."""
        ...

    async def delete(self, tenant: str, key: str) -> int:
        """Removes one entry; the number of live entries removed (0 or 1)."""
        ...

    async def delete_namespace(self, tenant: str, namespace: str) -> int:
        """Removes every live entry of the namespace; how many."""
        ...

    async def counters(self) -> Counters:
        ...

    async def close(self) -> None:
        ...
