"""When `switchboard up` restarts a dead process: exponential back-off, a
restart budget per sliding window, back-off reset after a stable run."""

from __future__ import annotations

from switchboard.restart_policy import RestartPolicy
from switchboard.runtime.clock import ManualClock


def _crash_loop(policy: RestartPolicy, clock: ManualClock, times: int, up_for: float = 0.1) -> list[float | None]:
    """The process starts, dies after `up_for` seconds, is restarted after the delay."""
    delays: list[float | None] = []
    for _ in range(times):
        policy.started()
        clock.advance(up_for)
        delay = policy.next_delay()
        delays.append(delay)
        if delay is None:
            break
        clock.advance(delay)
    return delays


def test_backoff_doubles_from_half_a_second_and_is_capped() -> None:
    clock = ManualClock()
    policy = RestartPolicy(clock, max_backoff_s=8.0, budget=100, window_s=3600)
    assert _crash_loop(policy, clock, 7) == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_spent_budget_means_give_up() -> None:
    clock = ManualClock()
    policy = RestartPolicy(clock, budget=3, window_s=300)
    assert _crash_loop(policy, clock, 5) == [0.5, 1.0, 2.0, None]
    assert policy.restarts_in_window == 3
    # Still spent a moment later: no restart sneaks in.
    clock.advance(10)
    assert policy.next_delay() is None


def test_window_slides_and_frees_budget() -> None:
    clock = ManualClock()
    policy = RestartPolicy(clock, budget=2, window_s=100, stable_after_s=1000)
    policy.started()
    assert policy.next_delay() == 0.5  # restart at t=0
    clock.advance(60)
    policy.started()
    assert policy.next_delay() == 1.0  # restart at t=60
    clock.advance(30)
    policy.started()
    assert policy.next_delay() is None  # t=90: two restarts in the last 100 s
    clock.advance(11)  # t=101: the first restart has left the window
    policy.started()
    assert policy.next_delay() is not None
    assert policy.restarts_in_window == 2


def test_a_stable_run_resets_the_backoff() -> None:
    clock = ManualClock()
    policy = RestartPolicy(clock, budget=100, window_s=3600, stable_after_s=60)
    assert _crash_loop(policy, clock, 4) == [0.5, 1.0, 2.0, 4.0]
    policy.started()
    clock.advance(59)  # not yet stable: back-off keeps growing
    assert policy.next_delay() == 8.0
    policy.started()
    clock.advance(60)  # stayed up long enough: healthy again
    assert policy.next_delay() == 0.5
    policy.started()
    clock.advance(1)
    assert policy.next_delay() == 1.0
