"""When to restart a process that died: exponential back-off and a budget of
restarts per sliding window. Pure logic on an injected clock."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from switchboard.runtime.clock import Clock


@dataclass
class RestartPolicy:
    clock: Clock
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    budget: int = 5  # restarts allowed per window
    window_s: float = 300.0
    # A process that stayed up this long is healthy again: back-off starts over.
    stable_after_s: float = 60.0
    _restarts: deque[float] = field(default_factory=deque, init=False)
    _consecutive: int = field(default=0, init=False)
    _started_at: float = field(default=0.0, init=False)

    def started(self) -> None:
        """Call whenever the process (re)starts."""
        self._started_at = self.clock.monotonic()

    def next_delay(self) -> float | None:
        """Seconds to wait before restarting the process that just exited, or
        None when the budget is spent (give up and alert)."""
        now = self.clock.monotonic()
        if now - self._started_at >= self.stable_after_s:
            self._consecutive = 0
        while self._restarts and now - self._restarts[0] > self.window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self.budget:
            return None
        delay = min(self.max_backoff_s, self.initial_backoff_s * 2**self._consecutive)
        self._consecutive += 1
        self._restarts.append(now)
        return delay

    @property
    def restarts_in_window(self) -> int:
        return len(self._restarts)
