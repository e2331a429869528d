"""The adaptive limit on requests in flight (switchboard/runtime/adaptive_limit.py):
pure logic, driven here with chosen delays."""

from __future__ import annotations

import pytest

from switchboard.runtime.adaptive_limit import WINDOW, AdaptiveLimit, Permit

TARGET = 0.05


def _limit(minimum: int = 2, maximum: int = 100) -> AdaptiveLimit:
    return AdaptiveLimit(minimum=minimum, maximum=maximum, target_delay_s=TARGET)


def _admit(lim: AdaptiveLimit, n: int) -> list[Permit]:
    permits = [lim.acquire() for _ in range(n)]
    assert all(p is not None for p in permits)
    return permits  # type: ignore[return-value]


def test_admits_up_to_the_limit_then_refuses_and_counts() -> None:
    lim = _limit(maximum=3)
    permits = _admit(lim, 3)
    assert lim.acquire() is None and lim.refused == 1
    lim.release(permits[0], None)
    assert lim.acquire() is not None
    assert lim.in_flight == 3


def test_fast_requests_never_cut_the_limit() -> None:
    lim = _limit()
    for _ in range(50):
        permits = _admit(lim, 20)
        for p in permits:
            lim.release(p, TARGET * 0.9)
    assert lim.limit == 100 and lim.cuts == 0 and lim.refused == 0


def test_sustained_queueing_cuts_the_limit_below_what_was_in_flight() -> None:
    lim = _limit()
    permits = _admit(lim, 40)
    for p in permits[:WINDOW]:
        lim.release(p, TARGET * 4)  # four times the target: the cut halves
    assert lim.cuts == 1
    # Cut from the requests in flight (40), not from the unused limit (100).
    assert lim.limit == pytest.approx(20.0, abs=1.0)
    # Requests admitted before the cut cannot cut again: one burst, one decision.
    for p in permits[WINDOW:]:
        lim.release(p, TARGET * 4)
    assert lim.cuts == 1
    assert lim.in_flight == 0


def test_a_slow_outlier_is_not_enough() -> None:
    lim = _limit()
    for i in range(200):
        (p,) = _admit(lim, 1)
        lim.release(p, 5.0 if i % 10 == 0 else TARGET / 2)  # one in ten stalls
    assert lim.cuts == 0 and lim.limit == 100


def test_a_mild_excess_cuts_by_a_tenth_and_the_floor_holds() -> None:
    lim = _limit(minimum=5, maximum=10)
    permits = _admit(lim, 10)
    for p in permits[:WINDOW]:
        lim.release(p, TARGET * 1.05)
    assert lim.limit == pytest.approx(10 * 0.9, abs=1.0)  # at most by a tenth when barely over
    lim.release(permits[-1], None)
    for _ in range(20):  # keeps queueing: cut after cut, never under the minimum
        permits = _admit(lim, int(lim.limit))
        for p in permits:
            lim.release(p, TARGET * 10)
    assert lim.limit == 5


def _cut_under_ten() -> AdaptiveLimit:
    """A limit cut once, by ten requests in flight that queued ten times the target."""
    lim = _limit(minimum=2, maximum=100)
    permits = _admit(lim, 10)
    for p in permits[:WINDOW]:
        lim.release(p, TARGET * 10)
    lim.release(permits[-1], None)
    return lim


def test_the_limit_recovers_once_requests_meet_the_target_again() -> None:
    lim = _cut_under_ten()
    low = lim.limit
    assert low < 10
    rounds = 0
    while lim.limit < 100:  # traffic keeps the limit in use, and now meets the target
        rounds += 1
        assert rounds < 30, lim.limit
        for p in _admit(lim, int(lim.limit)):
            lim.release(p, TARGET / 5)
    assert lim.cuts == 1


def test_a_quiet_period_does_not_inflate_a_cut_limit() -> None:
    lim = _cut_under_ten()
    low = lim.limit
    for _ in range(200):  # one at a time: far under the limit, which says nothing about more
        (p,) = _admit(lim, 1)
        lim.release(p, TARGET / 5)
    assert lim.limit == low


def test_a_request_without_a_measurement_only_frees_its_slot() -> None:
    lim = _limit(maximum=4)
    permits = _admit(lim, 4)
    for p in permits:
        lim.release(p, None)
    assert lim.in_flight == 0 and lim.limit == 4 and lim.cuts == 0


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        AdaptiveLimit(minimum=5, maximum=4, target_delay_s=TARGET)
    with pytest.raises(ValueError):
        AdaptiveLimit(minimum=1, maximum=4, target_delay_s=0)
