"""The insight computations on synthetic attempt sequences: trends, anomaly
detectors, time saved, windows (no database involved)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from services.learning.insights import (
    AnomalyKind,
    TrendDirection,
    detect_anomalies,
    resolve_window,
    trend_of,
)
from services.learning.records import InteractionRecord, Outcome
from services.learning.stats import percentile, time_saved
from switchboard.runtime.status import InvalidArgument
from learning_support import T0


def attempt(n: int, *, minutes: float, ok: bool = True, backend: str = "alpha", topic: str = "code",
            total_s: float = 1.0, outcome: Outcome | None = None) -> InteractionRecord:
    return InteractionRecord(
        tenant="default", interaction_id=f"{backend}-{n}", backend=backend, topic=topic,
        outcome=outcome or (Outcome.SUCCESS if ok else Outcome.SERVER_ERROR),
        occurred_at=T0 + timedelta(minutes=minutes), total_time_s=total_s,
    )


def steady(count: int, rate: float, seed: int = 1, start: float = 0, step: float = 10, **kw) -> list[InteractionRecord]:
    rng = random.Random(seed)
    return [attempt(n, minutes=start + n * step, ok=rng.random() < rate, **kw) for n in range(count)]


def kinds(found) -> list[AnomalyKind]:
    return sorted(a.kind for a in found)


def test_steady_traffic_has_no_anomalies() -> None:
    data = steady(400, 0.9) + [
        attempt(1000 + n, minutes=n * 10 + 5, backend="beta", total_s=1 + (n % 3) / 10) for n in range(300)
    ]
    data.sort(key=lambda a: a.occurred_at)
    assert detect_anomalies(data, data[-1].occurred_at) == []


def test_a_silent_regression_is_a_success_drop() -> None:
    before = steady(200, 0.95, seed=2)
    after = [attempt(200 + n, minutes=2000 + n * 10, ok=n % 5 < 2) for n in range(100)]  # 40%, never 5 in a row
    found = detect_anomalies(before + after, after[-1].occurred_at)
    assert kinds(found) == [AnomalyKind.SUCCESS_DROP]
    drop = found[0]
    assert drop.backend == "alpha" and drop.topic == "code"
    assert drop.baseline_value > 0.8 and drop.observed_value < 0.6
    assert T0 + timedelta(minutes=1900) <= drop.started_at <= drop.detected_at <= T0 + timedelta(minutes=2600)
    assert drop.ended_at is None and "alpha code success" in drop.description


def test_a_recovery_is_a_success_jump_that_ends_the_drop() -> None:
    data = steady(150, 0.95, seed=3)
    data += [attempt(150 + n, minutes=1500 + n * 10, ok=n % 5 < 2) for n in range(100)]
    data += [attempt(250 + n, minutes=2500 + n * 10, ok=n % 20 != 0) for n in range(150)]
    found = sorted(detect_anomalies(data, data[-1].occurred_at), key=lambda a: a.started_at)
    assert [a.kind for a in found] == [AnomalyKind.SUCCESS_DROP, AnomalyKind.SUCCESS_JUMP]
    assert found[0].ended_at == found[1].started_at


def test_an_outage_is_one_outage_not_a_drop_and_a_jump() -> None:
    data = steady(100, 1.0)
    data += [attempt(100 + n, minutes=1000 + n, ok=False, outcome=Outcome.CONNECTION_ERROR) for n in range(30)]
    data += steady(100, 1.0, start=1100, seed=4)
    data = [replace(a, interaction_id=f"x{i}") for i, a in enumerate(data)]
    found = detect_anomalies(data, data[-1].occurred_at)
    assert kinds(found) == [AnomalyKind.OUTAGE]
    outage = found[0]
    assert outage.started_at == T0 + timedelta(minutes=1000)
    assert outage.ended_at == T0 + timedelta(minutes=1100)
    assert outage.detected_at == T0 + timedelta(minutes=1004)
    assert "30 attempts in a row failed (mostly connection error)" in outage.description
    # Still going at the end of the data: no end.
    ongoing = data[:130]
    (still,) = detect_anomalies(ongoing, ongoing[-1].occurred_at)
    assert still.kind is AnomalyKind.OUTAGE and still.ended_at is None


def test_a_latency_spike() -> None:
    data = [attempt(n, minutes=n, total_s=1.0 + (n % 4) / 10) for n in range(100)]
    data += [attempt(100 + n, minutes=100 + n, total_s=5.0) for n in range(30)]
    data += [attempt(130 + n, minutes=130 + n, total_s=1.1) for n in range(30)]
    (spike,) = detect_anomalies(data, data[-1].occurred_at)
    assert spike.kind is AnomalyKind.LATENCY_SPIKE
    assert spike.baseline_value == pytest.approx(1.15, abs=0.1) and spike.observed_value == pytest.approx(5.0)
    assert spike.started_at == T0 + timedelta(minutes=100)
    assert spike.ended_at is not None and spike.ended_at > T0 + timedelta(minutes=130)


def test_an_error_burst() -> None:
    data = steady(200, 1.0, step=1)
    burst = [
        attempt(300 + n, minutes=200 + n / 2, ok=n % 4 == 0, outcome=None if n % 4 == 0 else Outcome.RATE_LIMITED)
        for n in range(30)
    ]
    data += burst + steady(100, 1.0, start=216, step=1, seed=9, backend="alpha")
    data = [replace(a, interaction_id=f"x{i}") for i, a in enumerate(data)]
    found = [a for a in detect_anomalies(data, data[-1].occurred_at) if a.kind is AnomalyKind.ERROR_BURST]
    assert len(found) == 1
    assert "burst of rate limited errors" in found[0].description
    assert found[0].observed_value >= 0.5 and found[0].ended_at is not None


def test_trend_directions() -> None:
    end = T0 + timedelta(days=14)

    def week(start_day: int, rate: float, total_s: float = 1.0, seed: int = 0) -> list[InteractionRecord]:
        rng = random.Random(seed)
        return [
            attempt(start_day * 1000 + n, minutes=start_day * 1440 + n * 20, ok=rng.random() < rate, total_s=total_s)
            for n in range(300)
        ]

    assert trend_of(week(0, 0.95) + week(7, 0.6, seed=1), end, 20).direction is TrendDirection.DEGRADING
    assert trend_of(week(0, 0.6) + week(7, 0.95, seed=1), end, 20).direction is TrendDirection.IMPROVING
    assert trend_of(week(0, 0.9) + week(7, 0.9, seed=1), end, 20).direction is TrendDirection.STABLE
    slower = trend_of(week(0, 0.9) + week(7, 0.9, total_s=3.0, seed=0), end, 20)
    assert slower.direction is TrendDirection.DEGRADING and slower.p50_total_time_this_week_s == 3.0
    assert trend_of(week(7, 0.9), end, 20).direction is TrendDirection.INSUFFICIENT_DATA


def test_time_saved_per_request() -> None:
    a = replace(attempt(1, minutes=0, ok=False, total_s=30), request_id="r", attempt=1)
    b = replace(attempt(2, minutes=1, total_s=20), request_id="r", attempt=2, fallback=True)
    slow = attempt(3, minutes=2, total_s=400, topic="quick_question")
    saved = time_saved([a, b, slow], {"code": 600, "quick_question": 120, "general": 60})
    assert saved.saved_s == 550  # never negative for the slow quick question
    assert (saved.request_count, saved.successful_requests, saved.waiting_s) == (2, 2, 450)


def test_percentiles_and_windows() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([7.0], 0.99) == 7.0
    start, end = resolve_window(T0, since=None, length=None, until=None, default=timedelta(days=7))
    assert (start, end) == (T0 - timedelta(days=7), T0)
    with pytest.raises(InvalidArgument):
        resolve_window(T0, since=T0, length=None, until=T0, default=timedelta(days=1))
    with pytest.raises(InvalidArgument):
        resolve_window(T0, since=None, length=timedelta(0), until=None, default=timedelta(days=1))
