"""How well the cache is doing, what to change, and the optional automatic TTL
adjustment. Pure functions over counters (plus one small stateful policy)."""

from __future__ import annotations

from dataclasses import dataclass

from services.cache.model import Counters

# Time saved per stored entry at which its weight in the efficiency score is half
# way: about one typical LLM answer.
REFERENCE_SAVING_S = 1.0
# A window where at least this share of stores pushed an entry out is thrashing on
# the size bound: a longer TTL cannot help there.
THRASH_RATIO = 0.5
GOOD_HIT_RATE = 0.6


def hit_rate(hits: int, misses: int) -> float:
    lookups = hits + misses
    return hits / lookups if lookups else 0.0


def efficiency_score(counters: Counters, reference_s: float = REFERENCE_SAVING_S) -> float:
    """0–100: the hit rate, weighted by the time saved per entry stored.

    The weight runs from 0.5 (entries save nothing measurable) to 1.0 (each
    entry saved far more than `reference_s`), so the hit rate dominates and a
    cache serving slow answers ranks above one serving instant ones.
    """
    rate = hit_rate(counters.hits, counters.misses)
    per_entry = counters.time_saved_s / max(counters.stores, 1)
    weight = 0.5 + 0.5 * (per_entry / (per_entry + reference_s))
    return round(max(0.0, min(100.0, 100.0 * rate * weight)), 2)


@dataclass(frozen=True)
class TuningBounds:
    min_ttl_s: float
    max_ttl_s: float
    low_hit_rate: float
    min_lookups: int


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _thrashing(window: Counters) -> bool:
    return window.stores > 0 and window.evictions >= THRASH_RATIO * window.stores


def advise(counters: Counters, *, max_size: int, ttl_s: float, bounds: TuningBounds, auto_ttl: bool) -> list[str]:
    """Human advice from the counters, most important first."""
    if counters.lookups == 0:
        return ["no lookups yet: nothing to tune"]
    rate = hit_rate(counters.hits, counters.misses)
    pct = f"{rate:.0%}"
    tips: list[str] = []
    if _thrashing(counters):
        tips.append(
            f"{counters.evictions} evictions for {counters.stores} stores: the size bound ({max_size}) "
            "pushes entries out before they are reused; raise SWITCHBOARD_CACHE_MAX_ENTRIES"
        )
    if counters.lookups < bounds.min_lookups:
        lookups = f"{counters.lookups} lookup{'s' if counters.lookups != 1 else ''}"
        tips.append(f"only {lookups} so far: too few to judge the hit rate ({pct})")
    elif rate < bounds.low_hit_rate:
        if ttl_s < bounds.max_ttl_s:
            tips.append(f"hit rate {pct}: consider a longer TTL (now {_duration(ttl_s)}, at most {_duration(bounds.max_ttl_s)})")
        else:
            tips.append(f"hit rate {pct} at the longest TTL ({_duration(ttl_s)}): requests rarely repeat")
    elif rate >= GOOD_HIT_RATE:
        tips.append(f"hit rate {pct}: the cache is working well")
    else:
        tips.append(f"hit rate {pct}: reasonable; a longer TTL may raise it at the cost of staler answers")
    if auto_ttl:
        tips.append(f"automatic TTL adjustment is on (between {_duration(bounds.min_ttl_s)} and {_duration(bounds.max_ttl_s)})")
    return tips


@dataclass(frozen=True)
class TtlChange:
    old_s: float
    new_s: float
    reason: str


def next_ttl(current_s: float, window: Counters, bounds: TuningBounds) -> TtlChange | None:
    """The TTL for the next window, or None to keep it.

    A low hit rate over enough lookups doubles the TTL (up to the maximum),
    unless entries are being evicted by the size bound anyway. The TTL is
    never shortened: nothing here measures staleness, only reuse.
    """
    if window.lookups < bounds.min_lookups or _thrashing(window):
        return None
    rate = hit_rate(window.hits, window.misses)
    if rate >= bounds.low_hit_rate:
        return None
    new_s = max(bounds.min_ttl_s, min(bounds.max_ttl_s, current_s * 2))
    if new_s == current_s:
        return None
    return TtlChange(current_s, new_s, f"hit rate {rate:.0%} over {window.lookups} lookups is below {bounds.low_hit_rate:.0%}")


def _minus(a: Counters, b: Counters) -> Counters:
    return Counters(
        size=a.size,
        hits=max(0, a.hits - b.hits),
        misses=max(0, a.misses - b.misses),
        stores=max(0, a.stores - b.stores),
        evictions=max(0, a.evictions - b.evictions),
        time_saved_s=max(0.0, a.time_saved_s - b.time_saved_s),
        cost_saved_usd=max(0.0, a.cost_saved_usd - b.cost_saved_usd),
    )


class TtlPolicy:
    """The cache's current default TTL; with `auto` on, `review` moves it from
    the counters gathered since the last window that had enough lookups."""

    def __init__(self, default_s: float, bounds: TuningBounds, *, auto: bool) -> None:
        self.current_s = default_s
        self.bounds = bounds
        self.auto = auto
        self._baseline = Counters()

    def review(self, counters: Counters) -> TtlChange | None:
        if not self.auto:
            return None
        if counters.lookups < self._baseline.lookups:
            self._baseline = Counters()  # the store lost its counters (Redis restarted)
        window = _minus(counters, self._baseline)
        if window.lookups < self.bounds.min_lookups:
            return None  # keep gathering
        self._baseline = counters
        change = next_ttl(self.current_s, window, self.bounds)
        if change is not None:
            self.current_s = change.new_s
        return change
