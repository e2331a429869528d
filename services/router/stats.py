"""Recent per-backend figures for ListBackends: calls in flight, and latency
percentiles (time to first token, total time) over the last N finished calls.
Success rates come from the breakers' windows, not from here."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence (q in (0, 100])."""
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def percentiles(values: Iterable[float]) -> Percentiles | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return Percentiles(percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99))


@dataclass(frozen=True)
class BackendFigures:
    in_flight: int
    calls: int  # finished calls kept in the window
    successes: int
    time_to_first_token: Percentiles | None
    total_time: Percentiles | None


class BackendStats:
    def __init__(self, window: int = 500) -> None:
        self.in_flight = 0
        self._ttft: deque[float] = deque(maxlen=window)
        self._total: deque[float] = deque(maxlen=window)
        self._success: deque[bool] = deque(maxlen=window)

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, *, success: bool, total_s: float, ttft_s: float | None, counted: bool = True) -> None:
        """One call ended. `counted=False` (caller cancelled) only frees the in-flight slot."""
        self.in_flight = max(0, self.in_flight - 1)
        if not counted:
            return
        self._success.append(success)
        self._total.append(total_s)
        if ttft_s is not None:
            self._ttft.append(ttft_s)

    def figures(self) -> BackendFigures:
        return BackendFigures(
            in_flight=self.in_flight,
            calls=len(self._success),
            successes=sum(self._success),
            time_to_first_token=percentiles(self._ttft),
            total_time=percentiles(self._total),
        )


class RouterStats:
    """One BackendStats per backend name, made on first use."""

    def __init__(self, window: int = 500) -> None:
        self._window = window
        self._by_name: dict[str, BackendStats] = {}

    def of(self, backend: str) -> BackendStats:
        stats = self._by_name.get(backend)
        if stats is None:
            stats = self._by_name[backend] = BackendStats(self._window)
        return stats
