"""Circuit breaker unit tests, time driven by ManualClock."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest

from services.router.breaker import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    Transition,
    WindowType,
)
from switchboard.runtime.clock import ManualClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FORCED_OPEN, DISABLED = BreakerState.FORCED_OPEN, BreakerState.DISABLED
LOGGER = "switchboard.router.breaker"


class Rig:
    """A breaker on a manual clock, recording its transitions."""

    def __init__(self, **config: Any) -> None:
        self.clock = ManualClock()
        self.events: list[Transition] = []
        self.breaker = CircuitBreaker("b1", BreakerConfig(**config), self.clock, self.events.append)

    def ok(self, n: int = 1, duration: float = 0.1) -> None:
        for _ in range(n):
            self.breaker.acquire().success(duration)

    def fail(self, n: int = 1, duration: float = 0.1) -> None:
        for _ in range(n):
            self.breaker.acquire().failure(duration)

    def path(self) -> list[tuple[BreakerState, BreakerState]]:
        return [(e.from_state, e.to_state) for e in self.events]

    def trip(self) -> None:
        """Closed -> open through failures (config must let `minimum_calls` failures trip)."""
        self.fail(self.breaker.config.effective_minimum_calls)
        assert self.breaker.state is OPEN


# -- config ------------------------------------------------------------------------------


def test_default_config_is_valid() -> None:
    cfg = BreakerConfig()
    assert cfg.window_type is WindowType.COUNT_BASED
    assert (cfg.window_size, cfg.minimum_calls, cfg.permitted_calls_in_half_open) == (20, 5, 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_type", "COUNT_BASED"),
        ("window_size", 0),
        ("window_size", 2.5),
        ("window_size", True),
        ("minimum_calls", 0),
        ("permitted_calls_in_half_open", 0),
        ("failure_rate_threshold", 0.0),
        ("failure_rate_threshold", 100.5),
        ("failure_rate_threshold", float("nan")),
        ("slow_call_rate_threshold", -1.0),
        ("slow_call_rate_threshold", 101.0),
        ("slow_call_duration_s", 0.0),
        ("wait_in_open_s", -1.0),
        ("wait_in_open_s", float("inf")),
        ("max_wait_in_open_s", 5.0),  # below the default wait_in_open_s of 10
        ("open_backoff_multiplier", 0.5),
        ("open_backoff_multiplier", "2"),
    ],
)
def test_config_validation_names_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        BreakerConfig(**{field: value})


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BreakerConfig().window_size = 3  # type: ignore[misc]


def test_minimum_calls_above_count_window_is_capped_at_window_size() -> None:
    rig = Rig(window_size=3, minimum_calls=10)
    rig.fail(2)
    assert rig.breaker.state is CLOSED
    rig.fail()
    assert rig.breaker.state is OPEN


# -- closed: window, minimum calls, thresholds -----------------------------------------


def test_no_trip_before_minimum_calls() -> None:
    rig = Rig(window_size=10, minimum_calls=5)
    rig.fail(4)
    snap = rig.breaker.snapshot()
    assert (snap.state, snap.calls, snap.failed) == (CLOSED, 4, 4)
    assert snap.failure_rate == -1 and snap.slow_call_rate == -1
    assert rig.events == []
    rig.fail()
    assert rig.breaker.state is OPEN
    assert rig.path() == [(CLOSED, OPEN)]
    assert "failure rate 100.0% >= 50%" in rig.events[0].reason


def test_trips_exactly_at_threshold() -> None:
    rig = Rig(window_size=10, minimum_calls=10, failure_rate_threshold=50.0)
    rig.ok(5)
    rig.fail(4)
    assert rig.breaker.state is CLOSED
    rig.fail()  # 5 of 10 = 50 %
    assert rig.breaker.state is OPEN
    assert rig.breaker.snapshot().failure_rate == 50.0


def test_just_below_threshold_stays_closed() -> None:
    rig = Rig(window_size=10, minimum_calls=10, failure_rate_threshold=50.0)
    rig.fail(4)
    rig.ok(6)
    snap = rig.breaker.snapshot()
    assert (snap.state, snap.failure_rate) == (CLOSED, 40.0)


def test_threshold_comparison_has_no_float_drift() -> None:
    # 29/100 as 0.29 * 100 is 28.999999999999996 in floating point; must still trip at 29 %.
    rig = Rig(window_size=100, minimum_calls=100, failure_rate_threshold=29.0)
    rig.ok(71)
    rig.fail(28)
    assert rig.breaker.state is CLOSED
    rig.fail()
    assert rig.breaker.state is OPEN


def test_count_window_keeps_only_last_n_outcomes() -> None:
    rig = Rig(window_size=4, minimum_calls=4, failure_rate_threshold=50.0)
    rig.fail()
    rig.ok(3)  # F S S S: 25 %
    assert rig.breaker.snapshot().failure_rate == 25.0
    rig.ok()  # the failure falls out: S S S S
    snap = rig.breaker.snapshot()
    assert (snap.calls, snap.failed, snap.failure_rate) == (4, 0, 0.0)
    rig.fail()  # S S S F
    assert rig.breaker.state is CLOSED
    rig.fail()  # S S F F: 50 %
    assert rig.breaker.state is OPEN


def test_slow_successes_trip_the_slow_call_rate() -> None:
    rig = Rig(
        window_size=4, minimum_calls=4, slow_call_rate_threshold=50.0, slow_call_duration_s=1.0
    )
    rig.ok(2, duration=0.5)
    rig.ok(1, duration=1.0)  # exactly the limit is not slower than it
    assert rig.breaker.snapshot().slow == 0
    rig.ok(1, duration=1.5)
    snap = rig.breaker.snapshot()
    assert (snap.state, snap.slow, snap.slow_call_rate) == (CLOSED, 1, 25.0)
    rig.ok(1, duration=2.0)  # window: fast fast slow slow -> 50 %
    assert rig.breaker.state is OPEN
    assert "slow-call rate 50.0% >= 50%" in rig.events[0].reason


def test_slow_failures_count_as_slow_too() -> None:
    rig = Rig(
        window_size=4,
        minimum_calls=4,
        failure_rate_threshold=100.0,
        slow_call_rate_threshold=50.0,
        slow_call_duration_s=1.0,
    )
    rig.ok(2)
    rig.fail(1, duration=5.0)
    assert rig.breaker.state is CLOSED
    rig.fail(1, duration=5.0)  # failures 50 % < 100 %, but slow 50 % >= 50 %
    assert rig.breaker.state is OPEN
    assert "slow-call rate" in rig.events[0].reason


def test_default_slow_threshold_trips_only_when_every_call_is_slow() -> None:
    rig = Rig(window_size=5, minimum_calls=5, slow_call_duration_s=1.0)
    rig.ok(4, duration=2.0)
    rig.ok(1, duration=0.1)
    assert rig.breaker.state is CLOSED
    rig.ok(5, duration=2.0)
    assert rig.breaker.state is OPEN


def test_time_window_forgets_outcomes_older_than_n_seconds() -> None:
    rig = Rig(window_type=WindowType.TIME_BASED, window_size=10, minimum_calls=3)
    rig.fail(2)  # at t=1000.0: bucket 1000
    rig.clock.advance(9.99)  # bucket 1009: buckets 1000..1009 are in the window
    assert rig.breaker.snapshot().calls == 2
    rig.clock.advance(0.01)  # t=1010.0: bucket 1000 has left the window
    assert rig.breaker.snapshot().calls == 0
    rig.fail()  # one failure alone is below the minimum
    assert rig.breaker.state is CLOSED
    rig.clock.advance(3)
    rig.fail(2)
    assert rig.breaker.state is OPEN


def test_time_window_aggregates_across_buckets() -> None:
    rig = Rig(
        window_type=WindowType.TIME_BASED,
        window_size=5,
        minimum_calls=4,
        failure_rate_threshold=50.0,
    )
    rig.fail()  # t=1000
    rig.clock.advance(1)
    rig.ok(2)  # t=1001
    rig.clock.advance(1)
    rig.fail()  # t=1002: 2 of 4 failed
    assert rig.breaker.state is OPEN


def test_time_window_bucket_expiry_keeps_newer_outcomes() -> None:
    rig = Rig(window_type=WindowType.TIME_BASED, window_size=3, minimum_calls=10)
    rig.fail(2)  # bucket 1000
    rig.clock.advance(1)
    rig.ok(3)  # bucket 1001
    rig.clock.advance(2)  # t=1003: bucket 1000 expires, 1001 stays
    snap = rig.breaker.snapshot()
    assert (snap.calls, snap.failed) == (3, 0)
    rig.clock.advance(1)  # t=1004: everything gone
    assert rig.breaker.snapshot().calls == 0


# -- open -> half-open -> closed/open --------------------------------------------------


def test_open_refuses_calls_until_the_wait_elapses() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=10.0)
    rig.trip()
    opened_at = rig.clock.monotonic()
    assert rig.breaker.try_acquire() is False
    rig.clock.advance(4)
    with pytest.raises(CircuitOpen) as refused:
        rig.breaker.acquire()
    assert refused.value.breaker == "b1"
    assert refused.value.state is OPEN
    assert refused.value.retry_after_s == pytest.approx(6.0)
    rig.clock.advance(5.999)
    assert rig.breaker.state is OPEN
    rig.clock.advance(0.001)
    assert rig.breaker.state is HALF_OPEN  # lazily, on looking
    snap = rig.breaker.snapshot()
    assert snap.since_monotonic == pytest.approx(opened_at + 10.0)
    assert rig.path() == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    assert rig.events[1].at == pytest.approx(opened_at + 10.0)


def test_try_acquire_moves_open_to_half_open_and_takes_a_probe() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=1)
    rig.trip()
    rig.clock.advance(1)
    assert rig.breaker.try_acquire() is True  # no state read in between
    assert rig.path() == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    assert rig.breaker.try_acquire() is False


def test_half_open_permits_exactly_n_calls() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=3)
    rig.trip()
    rig.clock.advance(1)
    permits = [rig.breaker.acquire() for _ in range(3)]
    with pytest.raises(CircuitOpen) as refused:
        rig.breaker.acquire()
    assert refused.value.state is HALF_OPEN and refused.value.retry_after_s is None
    assert rig.breaker.try_acquire() is False
    for p in permits:
        p.success(0.1)
    assert rig.breaker.state is CLOSED


def test_half_open_successes_close_with_a_clear_window_and_base_wait() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=2)
    rig.trip()
    rig.clock.advance(1)
    rig.ok()
    assert rig.breaker.state is HALF_OPEN  # one more success could still be a failure
    snap = rig.breaker.snapshot()
    assert (snap.calls, snap.failed, snap.failure_rate) == (1, 0, -1)
    rig.ok()
    snap = rig.breaker.snapshot()
    assert (snap.state, snap.calls, snap.current_wait_s) == (CLOSED, 0, 1.0)
    assert rig.path() == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    rig.fail()  # the old failures are gone: one new failure is below the minimum
    assert rig.breaker.state is CLOSED


def test_half_open_failure_reopens_with_doubled_wait_up_to_the_cap() -> None:
    rig = Rig(
        minimum_calls=2,
        window_size=2,
        wait_in_open_s=10.0,
        open_backoff_multiplier=2.0,
        max_wait_in_open_s=35.0,
        permitted_calls_in_half_open=1,
    )
    rig.trip()
    assert rig.breaker.snapshot().current_wait_s == 10.0
    waits = []
    for _ in range(3):
        rig.clock.advance(rig.breaker.snapshot().current_wait_s - 0.01)
        assert rig.breaker.state is OPEN
        rig.clock.advance(0.01)
        assert rig.breaker.state is HALF_OPEN
        rig.fail()
        assert rig.breaker.state is OPEN
        waits.append(rig.breaker.snapshot().current_wait_s)
    assert waits == [20.0, 35.0, 35.0]
    # A successful probe closes and the wait returns to base for the next trip.
    rig.clock.advance(35.0)
    rig.ok()
    assert rig.breaker.state is CLOSED
    rig.trip()
    assert rig.breaker.snapshot().current_wait_s == 10.0


def test_half_open_decides_early_once_the_outcome_is_certain() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=2)
    rig.trip()
    rig.clock.advance(1)
    first, second = rig.breaker.acquire(), rig.breaker.acquire()
    first.failure(0.1)  # 1 of 2 already reaches 50 %
    assert rig.breaker.state is OPEN
    snap = rig.breaker.snapshot()
    assert (snap.calls, snap.failed, snap.failure_rate) == (1, 1, 100.0)  # rate of what was seen
    second.success(0.1)  # stale: admitted in the half-open that ended
    assert rig.breaker.state is OPEN
    assert rig.path() == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]


def test_half_open_closes_early_when_remaining_probes_cannot_reach_a_threshold() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=4)
    rig.trip()
    rig.clock.advance(1)
    permits = [rig.breaker.acquire() for _ in range(4)]
    permits[0].success(0.1)
    permits[1].success(0.1)
    assert rig.breaker.state is HALF_OPEN  # two failures out of 4 would still be 50 %
    permits[2].success(0.1)
    assert rig.breaker.state is CLOSED
    permits[3].failure(0.1)  # stale: must not land in the fresh CLOSED window
    assert rig.breaker.snapshot().calls == 0


def test_slow_half_open_probes_reopen() -> None:
    rig = Rig(
        minimum_calls=2,
        window_size=2,
        wait_in_open_s=1.0,
        permitted_calls_in_half_open=2,
        slow_call_rate_threshold=100.0,
        slow_call_duration_s=1.0,
    )
    rig.trip()
    rig.clock.advance(1)
    rig.ok(duration=3.0)
    assert rig.breaker.state is HALF_OPEN
    rig.ok(duration=3.0)  # every probe slow: 100 % >= 100 %
    assert rig.breaker.state is OPEN
    assert "slow-call rate" in rig.events[-1].reason
    assert rig.breaker.snapshot().current_wait_s == 2.0


# -- cancellation, permits, stale outcomes --------------------------------------------


def test_ignored_calls_are_not_counted_in_closed() -> None:
    rig = Rig(window_size=2, minimum_calls=2)
    for _ in range(5):
        rig.breaker.acquire().ignore()
    rig.fail()
    snap = rig.breaker.snapshot()
    assert (snap.state, snap.calls, snap.failed) == (CLOSED, 1, 1)


def test_ignored_half_open_probe_frees_its_slot_and_is_not_counted() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=1)
    rig.trip()
    rig.clock.advance(1)
    probe = rig.breaker.acquire()
    assert rig.breaker.try_acquire() is False
    probe.ignore()
    assert rig.breaker.state is HALF_OPEN and rig.breaker.snapshot().calls == 0
    rig.ok()  # the freed slot lets another probe through; it decides
    assert rig.breaker.state is CLOSED


async def test_task_cancellation_inside_permit_is_not_a_failure() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=1)
    rig.trip()
    rig.clock.advance(1)
    started = asyncio.Event()

    async def call() -> None:
        async with rig.breaker.acquire():
            started.set()
            await rig.clock.sleep(60)  # a long stream the client gives up on

    task = asyncio.create_task(call())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.breaker.state is HALF_OPEN
    assert rig.breaker.snapshot().calls == 0
    assert rig.breaker.try_acquire() is True  # the probe slot came back


def test_context_manager_records_failure_on_exception_and_measured_success() -> None:
    rig = Rig(window_size=10, minimum_calls=10, slow_call_duration_s=2.0)
    with pytest.raises(RuntimeError):
        with rig.breaker.acquire():
            raise RuntimeError("upstream 500")
    with rig.breaker.acquire():
        rig.clock.advance(3.0)  # measured on the breaker's clock: a slow success
    snap = rig.breaker.snapshot()
    assert (snap.calls, snap.failed, snap.slow) == (2, 1, 1)


def test_context_manager_keeps_an_explicit_release() -> None:
    rig = Rig(window_size=10, minimum_calls=10)
    with pytest.raises(RuntimeError):
        with rig.breaker.acquire() as permit:
            permit.ignore()  # e.g. the handler saw the client go away
            raise RuntimeError("stream closed")
    assert rig.breaker.snapshot().calls == 0


def test_permit_released_twice_is_a_no_op() -> None:
    rig = Rig(window_size=10, minimum_calls=2)
    permit = rig.breaker.acquire()
    permit.success(0.1)
    permit.failure(0.1)
    permit.ignore()
    permit.success(0.1)
    snap = rig.breaker.snapshot()
    assert (snap.calls, snap.failed) == (1, 0)
    assert permit.released


def test_negative_duration_is_rejected() -> None:
    rig = Rig()
    with pytest.raises(ValueError, match="duration_s"):
        rig.breaker.acquire().success(-1.0)
    with pytest.raises(ValueError, match="duration_s"):
        rig.breaker.on_error(float("nan"))


def test_outcomes_of_calls_admitted_before_a_trip_are_ignored() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=2)
    in_flight = [rig.breaker.acquire() for _ in range(4)]
    rig.trip()
    rig.clock.advance(1)
    assert rig.breaker.state is HALF_OPEN
    for permit in in_flight[:2]:
        permit.success(0.1)  # stale successes must not close the breaker
    assert rig.breaker.state is HALF_OPEN
    assert rig.breaker.snapshot().calls == 0
    assert rig.breaker.try_acquire() and rig.breaker.try_acquire()  # both probe slots free
    assert rig.breaker.try_acquire() is False
    for permit in in_flight[2:]:
        permit.failure(0.1)  # stale failures must not re-open it
    assert rig.breaker.state is HALF_OPEN
    rig.breaker.on_success(0.1)
    rig.breaker.on_success(0.1)
    assert rig.breaker.state is CLOSED
    assert len(rig.events) == 3


async def test_many_concurrent_permits_across_a_trip() -> None:
    rig = Rig(window_size=10, minimum_calls=4, wait_in_open_s=5.0, permitted_calls_in_half_open=2)

    async def call(fails: bool, after: float) -> None:
        with rig.breaker.acquire() as permit:
            await rig.clock.sleep(after)
            if fails:
                raise ConnectionError("reset")
            permit.success()

    # Eight calls in flight; four fail at t+1 (trip), four would fail at t+7 when
    # the breaker is already half-open: they must not touch the probe accounting.
    tasks = [asyncio.create_task(call(True, 1.0)) for _ in range(4)]
    tasks += [asyncio.create_task(call(True, 7.0)) for _ in range(4)]
    await asyncio.sleep(0)
    rig.clock.advance(1.0)
    await asyncio.sleep(0)
    assert rig.breaker.state is OPEN
    rig.clock.advance(5.0)
    probes = [rig.breaker.acquire(), rig.breaker.acquire()]
    rig.clock.advance(1.0)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert rig.breaker.state is HALF_OPEN
    for p in probes:
        p.success(0.1)
    assert rig.path() == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


# -- low-level form -----------------------------------------------------------------------


def test_low_level_form_trips_probes_and_closes() -> None:
    rig = Rig(minimum_calls=3, window_size=3, wait_in_open_s=1.0, permitted_calls_in_half_open=2)
    for _ in range(3):
        assert rig.breaker.try_acquire()
        rig.breaker.on_error(0.2)
    assert rig.breaker.state is OPEN
    assert rig.breaker.try_acquire() is False
    rig.clock.advance(1)
    assert rig.breaker.try_acquire() and rig.breaker.try_acquire()
    assert rig.breaker.try_acquire() is False
    rig.breaker.on_ignored()
    assert rig.breaker.try_acquire() is True
    rig.breaker.on_success(0.1)
    rig.breaker.on_success(0.1)
    assert rig.breaker.state is CLOSED


def test_low_level_outcome_without_an_outstanding_probe_is_not_counted() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=2)
    rig.trip()
    rig.clock.advance(1)
    assert rig.breaker.state is HALF_OPEN
    rig.breaker.on_success(0.1)
    rig.breaker.on_success(0.1)
    assert rig.breaker.state is HALF_OPEN
    assert rig.breaker.snapshot().calls == 0


# -- operator states ---------------------------------------------------------------------


def test_forced_open_refuses_everything_until_reset() -> None:
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0)
    permit = rig.breaker.acquire()
    rig.breaker.force_open()
    rig.breaker.force_open()  # already forced: not a transition
    assert rig.breaker.try_acquire() is False
    with pytest.raises(CircuitOpen) as refused:
        rig.breaker.acquire()
    assert refused.value.state is FORCED_OPEN and refused.value.retry_after_s is None
    rig.clock.advance(1000)  # no wait ever ends a forced open
    assert rig.breaker.state is FORCED_OPEN
    permit.failure(0.1)
    snap = rig.breaker.snapshot()
    assert (snap.state, snap.calls, snap.failure_rate) == (FORCED_OPEN, 0, -1)
    rig.breaker.reset()
    assert rig.breaker.state is CLOSED and rig.breaker.try_acquire()
    assert rig.path() == [(CLOSED, FORCED_OPEN), (FORCED_OPEN, CLOSED)]


def test_disabled_permits_everything_and_records_nothing() -> None:
    rig = Rig(minimum_calls=2, window_size=2)
    rig.breaker.disable()
    rig.fail(50, duration=100.0)
    snap = rig.breaker.snapshot()
    assert (snap.state, snap.calls, snap.failed) == (DISABLED, 0, 0)
    rig.breaker.reset()
    rig.fail()
    assert rig.breaker.state is CLOSED  # the disabled-era failures were not kept
    assert rig.path() == [(CLOSED, DISABLED), (DISABLED, CLOSED)]


def test_operator_states_switch_between_each_other() -> None:
    rig = Rig()
    rig.breaker.disable()
    rig.breaker.force_open()
    rig.breaker.disable()
    assert rig.path() == [(CLOSED, DISABLED), (DISABLED, FORCED_OPEN), (FORCED_OPEN, DISABLED)]


def test_reset_from_open_clears_back_off() -> None:
    rig = Rig(
        minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=1
    )
    rig.trip()
    rig.clock.advance(1)
    rig.fail()  # re-open: wait 2
    assert rig.breaker.snapshot().current_wait_s == 2.0
    rig.breaker.reset()
    snap = rig.breaker.snapshot()
    assert (snap.state, snap.calls, snap.current_wait_s) == (CLOSED, 0, 1.0)
    assert rig.path()[-1] == (OPEN, CLOSED)


def test_reset_from_closed_clears_the_window_without_a_transition() -> None:
    rig = Rig(minimum_calls=2, window_size=2)
    stale = rig.breaker.acquire()
    rig.fail()
    rig.breaker.reset()
    assert rig.breaker.snapshot().calls == 0
    assert rig.events == []
    stale.failure(0.1)  # belonged to the cleared window
    rig.fail()
    assert rig.breaker.state is CLOSED


# -- events and logs -------------------------------------------------------------------------


def test_one_callback_and_one_log_line_per_transition(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    rig = Rig(minimum_calls=2, window_size=2, wait_in_open_s=1.0, permitted_calls_in_half_open=1)
    rig.fail()  # not a transition
    assert rig.events == [] and not caplog.records
    rig.fail()
    for _ in range(3):
        assert rig.breaker.state is OPEN  # repeated looks: no events
    rig.breaker.try_acquire()
    rig.clock.advance(1)
    _ = rig.breaker.state, rig.breaker.state, rig.breaker.snapshot()
    rig.fail()
    rig.clock.advance(2)
    rig.ok()
    rig.breaker.force_open()
    rig.breaker.force_open()
    rig.breaker.reset()
    rig.breaker.reset()
    expected = [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
        (CLOSED, FORCED_OPEN),
        (FORCED_OPEN, CLOSED),
    ]
    assert rig.path() == expected
    assert all(e.breaker == "b1" and e.reason for e in rig.events)
    records = [r for r in caplog.records if r.name == LOGGER]
    assert [(r.from_state, r.to_state) for r in records] == [  # type: ignore[attr-defined]
        (a.value, b.value) for a, b in expected
    ]
    assert all(r.breaker == "b1" and r.reason for r in records)  # type: ignore[attr-defined]
    assert records[0].levelno == logging.WARNING and records[4].levelno == logging.INFO


def test_failing_listener_does_not_break_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    def boom(_: Transition) -> None:
        raise RuntimeError("listener bug")

    clock = ManualClock()
    breaker = CircuitBreaker("b2", BreakerConfig(minimum_calls=1, window_size=1), clock, boom)
    breaker.acquire().failure(0.1)
    assert breaker.state is OPEN
    assert any("listener failed" in r.getMessage() for r in caplog.records)
