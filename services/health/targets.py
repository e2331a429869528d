"""State per watched target: status and since when, consecutive failures,
uptime over a window, a rolling latency baseline with 3σ anomalies, and the
trend of the latency. Pure logic on an injected clock."""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.health.model import (
    SEVERITY_ORDER,
    Baseline,
    Kind,
    ProbeResult,
    Serving,
    Status,
    TargetView,
    Transition,
    Trend,
)
from switchboard.runtime.clock import Clock


@dataclass(frozen=True)
class StatsConfig:
    uptime_window_s: float = 86_400.0
    baseline_samples: int = 100
    baseline_min_samples: int = 20
    anomaly_min_excess_s: float = 0.05
    trend_samples: int = 10
    anomaly_degrade_after: int = 3  # consecutive anomalous probes before DEGRADED


def judge_trend(latencies: list[float], config: StatsConfig) -> Trend:
    """Recent latencies against the older ones: IMPROVING, STABLE or DEGRADING;
    UNSPECIFIED until there are enough of both."""
    k = config.trend_samples
    if len(latencies) < max(config.baseline_min_samples, 2 * k):
        return Trend.UNSPECIFIED
    older, recent = latencies[:-k], latencies[-k:]
    older_mean = statistics.fmean(older)
    diff = statistics.fmean(recent) - older_mean
    # Twice the standard error of a k-sample mean, but never finer than 10% of
    # the mean or half a millisecond: loopback latencies jitter by that much.
    tolerance = max(2 * statistics.pstdev(older) / math.sqrt(k), 0.1 * older_mean, 0.0005)
    if diff > tolerance:
        return Trend.DEGRADING
    if diff < -tolerance:
        return Trend.IMPROVING
    return Trend.STABLE


class TargetTracker:
    """Everything the monitor knows about one target."""

    def __init__(self, target: str, kind: Kind, endpoint: str, clock: Clock, config: StatsConfig) -> None:
        self.target = target
        self.kind = kind
        self.endpoint = endpoint
        self._clock = clock
        self._config = config
        self.status = Status.UNSPECIFIED
        self.since = clock.now()
        self.latency_s: float | None = None
        self.consecutive_failures = 0
        self.latency_anomaly = False
        self._anomaly_streak = 0
        self.serving: dict[str, Serving] = {}
        self.detail = "not probed yet"
        self.last_probe_at: datetime | None = None
        self._latencies: deque[float] = deque(maxlen=config.baseline_samples)
        # (monotonic start, status) of each status period, oldest first.
        self._periods: deque[tuple[float, Status]] = deque([(clock.monotonic(), Status.UNSPECIFIED)])

    # -- observing --------------------------------------------------------------

    def observe(self, result: ProbeResult) -> Transition | None:
        """Takes one probe result; returns the transition it caused, if any
        (with `overall` left UNSPECIFIED: the board fills it in)."""
        now = self._clock.now()
        self.last_probe_at = now
        self.consecutive_failures = self.consecutive_failures + 1 if result.failed else 0
        if result.serving is not None:
            self.serving = dict(result.serving)
        status, detail = result.status, result.detail
        anomaly_caused = False
        if result.counts_as_probe and result.latency_s is not None:
            self.latency_s = result.latency_s
            if not result.failed:
                self.latency_anomaly = self._is_anomaly(result.latency_s)
                self._anomaly_streak = self._anomaly_streak + 1 if self.latency_anomaly else 0
                # A lone outlier stays out of the baseline; a lasting shift is
                # the new normal and is absorbed (the target recovers from it).
                if not self.latency_anomaly or self._anomaly_streak >= self._config.anomaly_degrade_after:
                    self._latencies.append(result.latency_s)
        if result.counts_as_probe and result.failed:
            self.latency_anomaly = False
            self._anomaly_streak = 0
        if status is Status.HEALTHY and self.latency_anomaly and self._anomaly_streak >= self._config.anomaly_degrade_after:
            base = self.baseline()
            status = Status.DEGRADED
            detail = (
                f"latency anomaly: {self.latency_s * 1000:.1f} ms against a baseline of "  # type: ignore[operator]
                f"{base.mean_s * 1000:.1f} ± {base.stddev_s * 1000:.1f} ms"
            )
            anomaly_caused = True
        self.detail = detail
        if status is self.status:
            return None
        previous = self.status
        self.status = status
        self.since = now
        self._periods.append((self._clock.monotonic(), status))
        self._trim_periods()
        return Transition(
            target=self.target,
            kind=self.kind,
            from_status=previous,
            to_status=status,
            at=now,
            reason=detail or _default_reason(previous, status),
            state=self.view(),
            overall=Status.UNSPECIFIED,
            anomaly=anomaly_caused,
        )

    def _is_anomaly(self, latency_s: float) -> bool:
        if len(self._latencies) < self._config.baseline_min_samples:
            return False
        base = self.baseline()
        return latency_s > base.mean_s + 3 * base.stddev_s and latency_s - base.mean_s > self._config.anomaly_min_excess_s

    # -- statistics ---------------------------------------------------------------

    def baseline(self) -> Baseline:
        samples = list(self._latencies)
        if not samples:
            return Baseline(0.0, 0.0, 0)
        return Baseline(statistics.fmean(samples), statistics.pstdev(samples), len(samples))

    def trend(self) -> Trend:
        return judge_trend(list(self._latencies), self._config)

    def uptime_ratio(self) -> float:
        """Share of the window spent HEALTHY or DEGRADED, out of the time the
        status was known (a monitor that started an hour ago judges that hour)."""
        now = self._clock.monotonic()
        return up_share(list(self._periods), now - self._config.uptime_window_s, now)

    def _trim_periods(self) -> None:
        # Keep the last period that began before the window: it still covers its start.
        start = self._clock.monotonic() - self._config.uptime_window_s
        while len(self._periods) > 1 and self._periods[1][0] <= start:
            self._periods.popleft()

    def view(self) -> TargetView:
        return TargetView(
            target=self.target,
            kind=self.kind,
            status=self.status,
            since=self.since,
            probe_latency_s=self.latency_s,
            consecutive_failures=self.consecutive_failures,
            uptime_ratio=self.uptime_ratio(),
            uptime_window_s=self._config.uptime_window_s,
            baseline=self.baseline(),
            latency_anomaly=self.latency_anomaly,
            trend=self.trend(),
            serving=dict(self.serving),
            detail="" if self.status is Status.HEALTHY else self.detail,
            last_probe_at=self.last_probe_at,
            endpoint=self.endpoint,
        )


def up_share(points: Sequence[tuple[float, Status]], start: float, end: float) -> float:
    """Share of [start, end] spent HEALTHY or DEGRADED, given the (time, status)
    changes oldest first: each status holds until the next change. Time with no
    known status (UNSPECIFIED, NOT_AVAILABLE) counts neither way; with none
    known at all, the answer is whether the latest status is up."""
    up = known = 0.0
    for i, (began, status) in enumerate(points):
        ended = points[i + 1][0] if i + 1 < len(points) else end
        length = min(ended, end) - max(began, start)
        if length <= 0 or status in (Status.UNSPECIFIED, Status.NOT_AVAILABLE):
            continue
        known += length
        if status.is_up:
            up += length
    if known == 0:
        return 1.0 if points and points[-1][1].is_up else 0.0
    return up / known


def _default_reason(previous: Status, status: Status) -> str:
    if status is Status.HEALTHY:
        return "healthy" if previous is Status.UNSPECIFIED else "recovered"
    return status.name.lower().replace("_", " ")


def overall_status(statuses: Iterable[Status]) -> Status:
    """The worst status, ignoring NOT_AVAILABLE; UNSPECIFIED when nothing counts."""
    counted = [s for s in statuses if s is not Status.NOT_AVAILABLE]
    if not counted:
        return Status.UNSPECIFIED
    return max(counted, key=lambda s: SEVERITY_ORDER[s])


class Board:
    """Every target's tracker, by target id."""

    def __init__(self, clock: Clock, config: StatsConfig) -> None:
        self._clock = clock
        self._config = config
        self._trackers: dict[str, TargetTracker] = {}

    def add(self, target: str, kind: Kind, endpoint: str) -> TargetTracker:
        tracker = self._trackers.get(target)
        if tracker is None:
            tracker = TargetTracker(target, kind, endpoint, self._clock, self._config)
            self._trackers[target] = tracker
        return tracker

    def __contains__(self, target: object) -> bool:
        return target in self._trackers

    def get(self, target: str) -> TargetTracker | None:
        return self._trackers.get(target)

    def targets(self) -> list[TargetTracker]:
        return [self._trackers[name] for name in sorted(self._trackers)]

    def observe(self, target: str, result: ProbeResult) -> Transition | None:
        transition = self._trackers[target].observe(result)
        if transition is None:
            return None
        return Transition(
            target=transition.target,
            kind=transition.kind,
            from_status=transition.from_status,
            to_status=transition.to_status,
            at=transition.at,
            reason=transition.reason,
            state=transition.state,
            overall=self.overall(),
            anomaly=transition.anomaly,
        )

    def overall(self) -> Status:
        return overall_status(t.status for t in self._trackers.values())

    def views(self, kinds: Iterable[Kind] = (), targets: Iterable[str] = ()) -> list[TargetView]:
        wanted_kinds, wanted_targets = set(kinds), set(targets)
        return [
            t.view()
            for t in self.targets()
            if (not wanted_kinds or t.kind in wanted_kinds) and (not wanted_targets or t.target in wanted_targets)
        ]
