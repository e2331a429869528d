"""A small circuit breaker for the Redis store, on the injected clock.

CLOSED counts consecutive failures; at the threshold it opens. OPEN refuses every
call (the cache answers a degraded miss at once instead of waiting on a dead
Redis) until `open_s` has passed; then HALF_OPEN lets exactly one probe through:
success closes it, failure opens it again. A cancelled call (the caller gave up)
is neither a success nor a failure. Each transition is logged once and handed
to `on_change` (the app reports it as a metric).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from switchboard.runtime.clock import Clock

log = logging.getLogger("switchboard.cache.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(
        self,
        name: str,
        *,
        clock: Clock,
        failure_threshold: int,
        open_s: float,
        on_change: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self._on_change = on_change
        self._clock = clock
        self._threshold = failure_threshold
        self._open_s = open_s
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.last_error = ""

    @property
    def state(self) -> BreakerState:
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._open_s - self._clock.monotonic())

    def allow(self) -> bool:
        """May a call go through now? A True in HALF_OPEN makes the caller the probe,
        which must then report success, failure or release."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self.retry_in() > 0:
                return False
            self._move(BreakerState.HALF_OPEN)
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def record_failure(self, error: str) -> None:
        self.last_error = error
        self._probing = False
        if self._state is BreakerState.HALF_OPEN:
            self._open()
        elif self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self._threshold:
                self._open()

    def release(self) -> None:
        """The call ended without a verdict (cancelled): free the probe slot."""
        self._probing = False

    def _open(self) -> None:
        self._opened_at = self._clock.monotonic()
        self._failures = 0
        self._move(BreakerState.OPEN)

    def _move(self, to: BreakerState) -> None:
        log.warning(
            "breaker %s: %s -> %s",
            self.name,
            self._state.value,
            to.value,
            extra={"breaker": self.name, "from_state": self._state.value, "to_state": to.value, "last_error": self.last_error},
        )
        self._state = to
        if self._on_change is not None:
            self._on_change(self.name, to)
