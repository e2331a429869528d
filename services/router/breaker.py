"""Per-backend circuit breaker with resilience4j semantics, for one asyncio event loop.

States: CLOSED (calls pass, outcomes go into a sliding window) -> OPEN when, with at
least `minimum_calls` recorded, the failure rate or the slow-call rate reaches its
threshold -> after the open wait, HALF_OPEN (exactly `permitted_calls_in_half_open`
probes pass) -> CLOSED when the probes are below both thresholds, else OPEN again with
the wait multiplied by `open_backoff_multiplier` (capped at `max_wait_in_open_s`).
FORCED_OPEN and DISABLED are operator states left only through `reset()` (or by
switching to the other operator state).

OPEN -> HALF_OPEN happens lazily, like resilience4j without its automatic-transition
thread: whenever `try_acquire`, `acquire`, `state` or `snapshot` look and the wait has
elapsed. Nothing here awaits, so every method runs atomically on the event loop; no
lock is needed.

Stale outcomes. Calls that were admitted in one state often finish in another (a trip
leaves dozens of streams in flight). Every `Permit` carries the breaker's *generation*,
bumped on every transition and on `reset()`; an outcome from an older generation is
dropped entirely. So a window only ever holds calls admitted in the state that owns it:
late failures from before a trip cannot re-trip or pollute the next CLOSED window, and
HALF_OPEN counts exactly its own probes. The low-level form (`try_acquire` +
`on_success`/`on_error`/`on_ignored`) has no generation to check, so its outcomes are
recorded against the current state; in HALF_OPEN one is counted only while a probe is
outstanding, which keeps the probe accounting from going past the permitted number.
Prefer `acquire()` + `Permit` where calls overlap state changes.

HALF_OPEN decides as soon as the outcome can no longer change (e.g. with 2 probes and
a 50 % threshold, the first failure re-opens at once) instead of waiting for every
probe; probes still in flight then become stale.
"""

from __future__ import annotations

import enum
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from switchboard.runtime.clock import Clock

_log = logging.getLogger("switchboard.router.breaker")


class BreakerState(enum.Enum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    FORCED_OPEN = "FORCED_OPEN"
    DISABLED = "DISABLED"


class WindowType(enum.Enum):
    COUNT_BASED = "COUNT_BASED"
    TIME_BASED = "TIME_BASED"


@dataclass(frozen=True)
class BreakerConfig:
    """Breaker tuning. As in resilience4j, a COUNT_BASED window can never hold more than
    `window_size` calls, so a larger `minimum_calls` is treated as `window_size`."""

    window_type: WindowType = WindowType.COUNT_BASED
    window_size: int = 20  # calls (COUNT_BASED) or seconds (TIME_BASED)
    minimum_calls: int = 5
    failure_rate_threshold: float = 50.0  # percent
    slow_call_rate_threshold: float = 100.0  # percent; 100 trips only when every call is slow
    slow_call_duration_s: float = 30.0
    wait_in_open_s: float = 10.0
    max_wait_in_open_s: float = 300.0
    open_backoff_multiplier: float = 2.0
    permitted_calls_in_half_open: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.window_type, WindowType):
            raise ValueError(f"window_type: must be a WindowType, got {self.window_type!r}")
        for name in ("window_size", "minimum_calls", "permitted_calls_in_half_open"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = _number(name, getattr(self, name))
            if not 0.0 < value <= 100.0:
                raise ValueError(f"{name}: must be a percentage in (0, 100], got {value!r}")
        for name in ("slow_call_duration_s", "wait_in_open_s", "max_wait_in_open_s"):
            if _number(name, getattr(self, name)) <= 0.0:
                raise ValueError(f"{name}: must be > 0 seconds, got {getattr(self, name)!r}")
        if self.max_wait_in_open_s < self.wait_in_open_s:
            raise ValueError(
                f"max_wait_in_open_s: must be >= wait_in_open_s ({self.wait_in_open_s}),"
                f" got {self.max_wait_in_open_s!r}"
            )
        if _number("open_backoff_multiplier", self.open_backoff_multiplier) < 1.0:
            raise ValueError(
                f"open_backoff_multiplier: must be >= 1, got {self.open_backoff_multiplier!r}"
            )

    @property
    def effective_minimum_calls(self) -> int:
        if self.window_type is WindowType.COUNT_BASED:
            return min(self.minimum_calls, self.window_size)
        return self.minimum_calls


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Transition:
    breaker: str
    from_state: BreakerState
    to_state: BreakerState
    at: float  # clock.monotonic()
    reason: str


@dataclass(frozen=True)
class BreakerSnapshot:
    state: BreakerState
    failure_rate: float  # percent; -1 while fewer than the minimum calls are recorded
    slow_call_rate: float  # percent; -1 likewise
    calls: int
    failed: int
    slow: int
    since_monotonic: float  # when the current state began
    current_wait_s: float  # the open wait now in force (base, or backed off)


class CircuitOpen(Exception):
    """The breaker refused a call. `retry_after_s` is when the open wait ends, or None
    when no time is known (FORCED_OPEN, or HALF_OPEN with every probe taken)."""

    def __init__(self, breaker: str, state: BreakerState, retry_after_s: float | None) -> None:
        self.breaker = breaker
        self.state = state
        self.retry_after_s = retry_after_s
        after = "" if retry_after_s is None else f"; retry after {retry_after_s:.3f}s"
        super().__init__(f"circuit breaker {breaker!r} is {state.value}{after}")


@dataclass
class _Counts:
    calls: int = 0
    failed: int = 0
    slow: int = 0

    def add(self, failed: bool, slow: bool, sign: int = 1) -> None:
        self.calls += sign
        self.failed += sign * failed
        self.slow += sign * slow

    def copy(self) -> _Counts:
        return _Counts(self.calls, self.failed, self.slow)


def _rate(part: int, calls: int, minimum: int) -> float:
    return -1.0 if calls < minimum or calls == 0 else part * 100.0 / calls


class _CountWindow:
    """The last `size` outcomes, with running totals (O(1) per call)."""

    def __init__(self, size: int) -> None:
        self._ring: deque[tuple[bool, bool]] = deque()
        self._size = size
        self._totals = _Counts()

    def record(self, now: float, failed: bool, slow: bool) -> None:
        if len(self._ring) == self._size:
            self._totals.add(*self._ring.popleft(), sign=-1)
        self._ring.append((failed, slow))
        self._totals.add(failed, slow)

    def totals(self, now: float) -> _Counts:
        return self._totals.copy()

    def clear(self) -> None:
        self._ring.clear()
        self._totals = _Counts()


class _TimeWindow:
    """Outcomes of the last `seconds` seconds of the injected clock, in one bucket per
    whole second (the current, partial second included), as resilience4j aggregates."""

    def __init__(self, seconds: int) -> None:
        self._seconds = seconds
        self._buckets: deque[tuple[int, _Counts]] = deque()
        self._totals = _Counts()

    def _evict(self, now: float) -> int:
        second = math.floor(now)
        while self._buckets and self._buckets[0][0] <= second - self._seconds:
            old = self._buckets.popleft()[1]
            self._totals.calls -= old.calls
            self._totals.failed -= old.failed
            self._totals.slow -= old.slow
        return second

    def record(self, now: float, failed: bool, slow: bool) -> None:
        second = self._evict(now)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append((second, _Counts()))
        self._buckets[-1][1].add(failed, slow)
        self._totals.add(failed, slow)

    def totals(self, now: float) -> _Counts:
        self._evict(now)
        return self._totals.copy()

    def clear(self) -> None:
        self._buckets.clear()
        self._totals = _Counts()


class Permit:
    """Permission for one call. Release it exactly once with `success`, `failure` or
    `ignore` (client cancellation: frees a half-open probe, counts nothing); later
    releases are no-ops. Durations default to the time since `acquire()` on the
    breaker's clock. As a (async) context manager it releases itself on exit if the
    body did not: cancellation -> ignore, another exception -> failure, else success."""

    __slots__ = ("_breaker", "_generation", "_started", "_released")

    def __init__(self, breaker: CircuitBreaker, generation: int, started: float) -> None:
        self._breaker = breaker
        self._generation = generation
        self._started = started
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    @property
    def generation(self) -> int:
        return self._generation

    def elapsed_s(self) -> float:
        return max(0.0, self._breaker._clock.monotonic() - self._started)

    def success(self, duration_s: float | None = None) -> None:
        self._release(failed=False, duration_s=duration_s)

    def failure(self, duration_s: float | None = None) -> None:
        self._release(failed=True, duration_s=duration_s)

    def ignore(self) -> None:
        if not self._released:
            self._released = True
            self._breaker._ignored(self._generation)

    def _release(self, failed: bool, duration_s: float | None) -> None:
        if self._released:
            return
        duration = self.elapsed_s() if duration_s is None else _duration(duration_s)
        self._released = True
        self._breaker._completed(self._generation, failed, duration)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._released:
            return
        if exc_type is None:
            self.success()
        elif issubclass(exc_type, Exception):
            self.failure()
        else:  # CancelledError, GeneratorExit, KeyboardInterrupt: not the backend's fault
            self.ignore()

    async def __aenter__(self) -> Permit:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def _duration(duration_s: float) -> float:
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float):
        raise ValueError(f"duration_s: must be a number, got {duration_s!r}")
    if not math.isfinite(duration_s) or duration_s < 0:
        raise ValueError(f"duration_s: must be a finite number >= 0, got {duration_s!r}")
    return float(duration_s)


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        config: BreakerConfig,
        clock: Clock,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._window: _CountWindow | _TimeWindow = (
            _CountWindow(config.window_size)
            if config.window_type is WindowType.COUNT_BASED
            else _TimeWindow(config.window_size)
        )
        self._state = BreakerState.CLOSED
        self._since = clock.monotonic()
        self._generation = 0
        self._wait_s = config.wait_in_open_s
        # HALF_OPEN bookkeeping: probes handed out and not yet released, and the
        # outcomes of the released ones.
        self._probes_out = 0
        self._probes = _Counts()
        # What OPEN shows in snapshots: the counts that tripped it, and their minimum.
        self._tripped: tuple[_Counts, int] = (_Counts(), 1)

    # -- permission ----------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Permission for one call; pair it with exactly one on_success/on_error/on_ignored."""
        state = self._current_state()
        if state is BreakerState.CLOSED or state is BreakerState.DISABLED:
            return True
        if state is BreakerState.HALF_OPEN:
            if self._probes.calls + self._probes_out < self.config.permitted_calls_in_half_open:
                self._probes_out += 1
                return True
        return False

    def acquire(self) -> Permit:
        """A Permit for one call, or CircuitOpen."""
        if not self.try_acquire():
            raise CircuitOpen(self.name, self._state, self._retry_after())
        return Permit(self, self._generation, self._clock.monotonic())

    def on_success(self, duration_s: float) -> None:
        self._completed(None, False, _duration(duration_s))

    def on_error(self, duration_s: float) -> None:
        self._completed(None, True, _duration(duration_s))

    def on_ignored(self) -> None:
        self._ignored(None)

    # -- inspection -------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        return self._current_state()

    def snapshot(self) -> BreakerSnapshot:
        state = self._current_state()
        now = self._clock.monotonic()
        if state is BreakerState.CLOSED:
            counts, minimum = self._window.totals(now), self.config.effective_minimum_calls
        elif state is BreakerState.HALF_OPEN:
            counts, minimum = self._probes.copy(), self.config.permitted_calls_in_half_open
        elif state is BreakerState.OPEN:
            counts, minimum = self._tripped[0].copy(), self._tripped[1]
        else:  # operator states record nothing
            counts, minimum = _Counts(), 1
        return BreakerSnapshot(
            state=state,
            failure_rate=_rate(counts.failed, counts.calls, minimum),
            slow_call_rate=_rate(counts.slow, counts.calls, minimum),
            calls=counts.calls,
            failed=counts.failed,
            slow=counts.slow,
            since_monotonic=self._since,
            current_wait_s=self._wait_s,
        )

    # -- admin ---------------------------------------------------------------------------

    def force_open(self) -> None:
        if self._state is not BreakerState.FORCED_OPEN:
            self._transition(BreakerState.FORCED_OPEN, "forced open by operator")

    def disable(self) -> None:
        if self._state is not BreakerState.DISABLED:
            self._transition(BreakerState.DISABLED, "disabled by operator")

    def reset(self) -> None:
        """Back to CLOSED with an empty window and the base open wait. From CLOSED this
        is not a transition (no callback, no log line) but still clears the window."""
        self._wait_s = self.config.wait_in_open_s
        if self._state is BreakerState.CLOSED:
            self._generation += 1  # calls in flight belonged to the cleared window
            self._window.clear()
        else:
            self._transition(BreakerState.CLOSED, "reset by operator")

    # -- internals -------------------------------------------------------------------------

    def _current_state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock.monotonic() >= self._since + self._wait_s
        ):
            self._transition(BreakerState.HALF_OPEN, f"open wait of {self._wait_s:g}s elapsed")
        return self._state

    def _retry_after(self) -> float | None:
        if self._state is BreakerState.OPEN:
            return max(0.0, self._since + self._wait_s - self._clock.monotonic())
        return None

    def _is_current(self, generation: int | None) -> bool:
        return generation is None or generation == self._generation

    def _ignored(self, generation: int | None) -> None:
        if self._is_current(generation) and self._state is BreakerState.HALF_OPEN:
            self._probes_out = max(0, self._probes_out - 1)  # the probe slot is free again

    def _completed(self, generation: int | None, failed: bool, duration_s: float) -> None:
        if not self._is_current(generation):
            return  # admitted under an earlier state: see the module docstring
        slow = duration_s > self.config.slow_call_duration_s
        if self._state is BreakerState.CLOSED:
            self._record_closed(failed, slow)
        elif self._state is BreakerState.HALF_OPEN and self._probes_out > 0:
            self._probes_out -= 1
            self._probes.add(failed, slow)
            self._judge_probes()
        # OPEN, FORCED_OPEN, DISABLED: nothing is recorded.

    def _record_closed(self, failed: bool, slow: bool) -> None:
        now = self._clock.monotonic()
        self._window.record(now, failed, slow)
        counts = self._window.totals(now)
        minimum = self.config.effective_minimum_calls
        if counts.calls < minimum:
            return
        why = self._over_threshold(counts, counts.calls)
        if why:
            self._tripped = (counts, minimum)
            self._wait_s = self.config.wait_in_open_s
            self._transition(BreakerState.OPEN, f"{why} over the last {counts.calls} calls")

    def _over_threshold(self, counts: _Counts, of: int) -> str:
        """Why `counts` (taken as a share of `of` calls) reach a threshold, or ''."""
        cfg = self.config
        failure_rate = counts.failed * 100.0 / of
        if failure_rate >= cfg.failure_rate_threshold:
            return f"failure rate {failure_rate:.1f}% >= {cfg.failure_rate_threshold:g}%"
        slow_rate = counts.slow * 100.0 / of
        if slow_rate >= cfg.slow_call_rate_threshold:
            return f"slow-call rate {slow_rate:.1f}% >= {cfg.slow_call_rate_threshold:g}%"
        return ""

    def _judge_probes(self) -> None:
        """Decides HALF_OPEN once the probes' verdict is certain: already at a threshold
        counting the unfinished probes as successes, or still below both counting them
        as slow failures (all probes done is the usual case of the second)."""
        permitted = self.config.permitted_calls_in_half_open
        probes = self._probes
        why = self._over_threshold(probes, permitted)
        if why:
            # An early verdict may rest on fewer than `permitted` outcomes: show their rate.
            self._tripped = (probes.copy(), probes.calls)
            self._wait_s = min(
                self._wait_s * self.config.open_backoff_multiplier, self.config.max_wait_in_open_s
            )
            self._transition(
                BreakerState.OPEN,
                f"half-open probes: {why} ({probes.failed} failed, {probes.slow} slow"
                f" of {probes.calls}/{permitted}); open wait now {self._wait_s:g}s",
            )
            return
        left = permitted - probes.calls
        worst = _Counts(permitted, probes.failed + left, probes.slow + left)
        if not self._over_threshold(worst, permitted):
            self._wait_s = self.config.wait_in_open_s
            self._transition(
                BreakerState.CLOSED,
                f"half-open probes below thresholds ({probes.failed} failed,"
                f" {probes.slow} slow of {probes.calls}/{permitted})",
            )

    def _transition(self, to: BreakerState, reason: str) -> None:
        """The one place state changes: fresh generation and per-state bookkeeping, then
        exactly one log line and one callback."""
        now = self._clock.monotonic()
        before = self._state
        self._state = to
        self._since = now
        self._generation += 1
        self._probes_out = 0
        self._probes = _Counts()
        if to is BreakerState.CLOSED:
            self._window.clear()
        event = Transition(self.name, before, to, now, reason)
        opening = to in (BreakerState.OPEN, BreakerState.FORCED_OPEN)
        _log.log(
            logging.WARNING if opening else logging.INFO,
            "circuit breaker %s: %s -> %s (%s)",
            self.name,
            before.value,
            to.value,
            reason,
            extra={
                "breaker": self.name,
                "from_state": before.value,
                "to_state": to.value,
                "reason": reason,
                "open_wait_s": self._wait_s,
            },
        )
        if self._on_transition is not None:
            try:
                self._on_transition(event)
            except Exception:  # a listener's bug must not break routing
                _log.exception("circuit breaker %s: transition listener failed", self.name)
