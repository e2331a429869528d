"""Per-client token buckets (no I/O; time from an injected Clock)."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from switchboard.runtime.clock import Clock


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per client: `burst` requests at once, refilled at `rate`
    per second. Buckets of the least recently seen clients are dropped past
    `max_clients` (a dropped bucket comes back full, which errs on the side of
    letting a request through, never of refusing one wrongly)."""

    def __init__(self, rate: float, burst: int, clock: Clock, max_clients: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, client: str) -> float:
        """Takes one token for `client`: 0.0 when allowed, else the seconds
        until a token will be available (for Retry-After)."""
        now = self._clock.monotonic()
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated = now
        self._buckets[client] = bucket  # most recent last
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate


def retry_after_header(wait_s: float) -> str:
    """Retry-After is whole seconds; round up so a client that obeys it succeeds."""
    return str(max(1, math.ceil(wait_s)))
