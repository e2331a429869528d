"""Load shedding: refuse new calls while the event loop is behind.

Without it an overloaded service admits every call, all of them share the CPU,
and none finishes in time: offered 5x its capacity, the gateway once completed
nothing within a 10 s client deadline. A service on asyncio is overloaded
exactly when its event loop cannot keep up, so the signal is the loop's lag:
how late a timer fires, in most of its recent samples. While it is above the
threshold, new calls are refused at once (cheap, and the caller can go elsewhere
or back off) and calls already admitted run to completion.

`LagEstimate` is the decision (pure, driven by the samples it is given);
`LoopLagProbe` takes the samples from the running loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
from collections import deque
from collections.abc import Callable

log = logging.getLogger("switchboard.overload")

# How often the probe wakes (its cost: ~20 wake-ups a second) and over how many
# of its samples the lag is judged.
PROBE_INTERVAL_S = 0.05
WINDOW = 5


class LagEstimate:
    """The loop's lag: the median of the last `window` samples; `overloaded`
    while it exceeds `threshold_s`.

    The median, so that it takes lag in most recent samples, i.e. sustained
    load, to refuse calls: one long stall alone (a GC pause, a VM or a
    SIGSTOP'd process resuming) is not overload and refuses nothing."""

    def __init__(self, threshold_s: float, window: int = WINDOW) -> None:
        self.threshold_s = threshold_s
        self._samples: deque[float] = deque(maxlen=window)
        self.lag_s = 0.0
        self.shed = 0  # calls refused since the service started

    def observe(self, lag_s: float) -> None:
        self._samples.append(max(lag_s, 0.0))  # a timer firing early is no lag
        self.lag_s = statistics.median(self._samples)

    @property
    def overloaded(self) -> bool:
        return self.threshold_s > 0 and self.lag_s > self.threshold_s

    def refusal(self) -> str:
        """Counts one refused call and says why it was refused."""
        self.shed += 1
        return (f"server overloaded: its event loop is {self.lag_s * 1000:.0f} ms behind "
                f"(limit {self.threshold_s * 1000:.0f} ms); retry with back-off or elsewhere")


class LoopLagProbe:
    """Samples how late a timer fires on the running loop into a LagEstimate.

    It reads the loop's own clock, not the injected Clock: what it measures is
    this loop's scheduling delay in real time."""

    def __init__(self, estimate: LagEstimate, *, interval_s: float = PROBE_INTERVAL_S,
                 on_sample: Callable[[float], None] | None = None,
                 on_change: Callable[[bool, LagEstimate], None] | None = None) -> None:
        self.estimate = estimate
        self._interval_s = interval_s
        self._on_sample = on_sample  # the judged lag after each sample (the metric)
        self._on_change = on_change or _log_change
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Measures from now on, also when shedding is off (the lag is still reported)."""
        if self._task is None:
            if self._on_sample is not None:
                self._on_sample(self.estimate.lag_s)  # reported from the start, not from the first sample
            self._task = asyncio.create_task(self._run(), name="loop-lag-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        was = False
        while True:
            before = loop.time()
            await asyncio.sleep(self._interval_s)
            self.estimate.observe(loop.time() - before - self._interval_s)
            if self._on_sample is not None:
                self._on_sample(self.estimate.lag_s)
            now = self.estimate.overloaded
            if now != was:
                self._on_change(now, self.estimate)
                was = now


def _log_change(overloaded: bool, estimate: LagEstimate) -> None:
    if overloaded:
        log.warning("overloaded: refusing new calls", extra={"loop_lag_ms": round(estimate.lag_s * 1000, 1)})
    else:
        log.info("load back under the limit: admitting calls", extra={"shed_so_far": estimate.shed})
