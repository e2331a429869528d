"""An adaptive limit on requests in flight, driven by queueing delay (AIMD).

Overloaded, a server that admits every request serves all of them slowly: on a
saturated machine the requests in flight share the CPU, so each waits longer
the more there are, and admitted requests end up waiting seconds. A limit on
requests in flight turns that into fast refusals for the excess (which a
caller can retry elsewhere) and a short wait for the rest. The right limit
depends on the machine and the traffic, so it is learned:

- The signal is a delay the owner reports per finished request that grows
  with queueing and not with the work itself. For an LLM request the total
  time is mostly the backend's and varies a hundredfold with the answer, so
  the gateway reports its time to the first token minus the router's own:
  transport and queues only.
- When the median delay of the last few requests exceeds the target, the limit
  is cut to the most requests in flight at once since the last cut, times
  target/median (between a half and nine tenths of them). Then a new *epoch*
  begins: requests admitted before the cut no longer count, so one burst of
  slow answers is one decision (as TCP reacts once per window), and one slow
  outlier is never enough.
- Every request of the current epoch that met the target while the limit was
  in use (at least half of it in flight) raises the limit by one, up to the
  maximum (as Netflix's AIMD limit): it recovers as fast as requests finish once
  the queue is gone, and a quiet period cannot inflate it.

No clock and no I/O: the owner calls `acquire` and `release` and reads the state.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

# Delays of the current epoch that decide a cut: the median of up to this many,
# once at least half of them are in.
WINDOW = 9


@dataclass(frozen=True)
class Permit:
    """One admitted request, and the epoch it was admitted in."""

    epoch: int


class AdaptiveLimit:
    def __init__(self, *, minimum: int, maximum: int, target_delay_s: float) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        if target_delay_s <= 0:
            raise ValueError("target_delay_s must be positive")
        self.minimum, self.maximum = minimum, maximum
        self.target_delay_s = target_delay_s
        self.limit = float(maximum)
        self.in_flight = 0
        self.epoch = 0
        self.refused = 0  # requests refused so far
        self.cuts = 0  # times the limit was cut
        self._delays: deque[float] = deque(maxlen=WINDOW)
        self._peak = 0  # most requests in flight at once in the current epoch

    def acquire(self) -> Permit | None:
        """A permit, or None when the limit is reached (refuse the request)."""
        if self.in_flight >= int(self.limit):
            self.refused += 1
            return None
        self.in_flight += 1
        self._peak = max(self._peak, self.in_flight)
        return Permit(self.epoch)

    def release(self, permit: Permit, delay_s: float | None) -> None:
        """The request is over; `delay_s` is its queueing delay, None when there
        is no measurement (it failed, or was cancelled)."""
        self.in_flight -= 1
        if delay_s is None or permit.epoch != self.epoch:
            return  # admitted under a limit already changed: its delay is old news
        self._delays.append(delay_s)
        if delay_s <= self.target_delay_s and (self.in_flight + 1) * 2 >= self.limit:
            self.limit = min(float(self.maximum), self.limit + 1.0)
        if len(self._delays) <= WINDOW // 2:
            return
        median = statistics.median(self._delays)
        if median > self.target_delay_s:
            factor = min(0.9, max(0.5, self.target_delay_s / median))
            # Cut from the concurrency that queued, not from a limit it never reached.
            self.limit = max(float(self.minimum), min(self.limit, float(self._peak)) * factor)
            self.epoch += 1
            self.cuts += 1
            self._delays.clear()
            self._peak = self.in_flight
