"""GetInsights and GetTimeSaved: aggregates over a time window, week-over-week
trends and anomaly detection, computed from the stored interaction log.

Percentiles and the detectors run in Python over the window's rows (SQLite has
no percentile functions, and the detectors are sequential); only the needed
rows are read: the window, plus the two weeks before its end for trends and a
lead-in for the detectors' baselines.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.learning.changepoint import BernoulliCusum
from services.learning.profiles import zone_of
from services.learning.records import FeedbackRecord, InteractionRecord, Key, Outcome
from services.learning.stats import (
    AttemptStats,
    TimeSaved,
    hour_histogram,
    median,
    peak_hours,
    requests_of,
    success_rate,
    time_saved,
    topic_mix,
)
from services.learning.store import Store
from switchboard.runtime.clock import Clock
from switchboard.runtime.status import FieldViolation, InvalidArgument

WEEK = timedelta(days=7)
DETECTOR_LEAD_IN = timedelta(days=7)

# Trend: a change in success rate is significant at |z| ≥ 2 and at least 3
# points; a latency change when the median moves by 25% or more.
TREND_Z = 2.0
TREND_MIN_SUCCESS_DELTA = 0.03
TREND_LATENCY_RATIO = 1.25

# Detectors.
CUSUM_SHIFT_LOGIT = 1.0
CUSUM_THRESHOLD = 5.0
CUSUM_WARMUP = 20  # attempts of a cell before its detector may fire
EWMA_KEEP = 0.98  # reference rate p0: an exponentially weighted success rate (~50 attempts)
OUTAGE_MIN_FAILURES = 5
OUTAGE_MIN_DURATION = timedelta(seconds=60)
SPIKE_BASELINE = 50
SPIKE_RECENT = 10
SPIKE_FACTOR = 2.0
SPIKE_MIN_EXTRA_S = 0.5
SPIKE_END_FACTOR = 1.5
BURST_BUCKET = timedelta(minutes=10)
BURST_MIN_COUNT = 10
BURST_MIN_SHARE = 0.5


class TrendDirection(StrEnum):
    IMPROVING = "improving"
    STABLE = "stable"
    DEGRADING = "degrading"
    INSUFFICIENT_DATA = "insufficient_data"


class AnomalyKind(StrEnum):
    SUCCESS_DROP = "success_drop"
    LATENCY_SPIKE = "latency_spike"
    ERROR_BURST = "error_burst"
    OUTAGE = "outage"
    SUCCESS_JUMP = "success_jump"


@dataclass(frozen=True)
class Trend:
    direction: TrendDirection
    success_rate_this_week: float = 0.0
    success_rate_previous_week: float = 0.0
    p50_total_time_this_week_s: float = 0.0
    p50_total_time_previous_week_s: float = 0.0


@dataclass(frozen=True)
class CellInsight:
    backend: str
    topic: str
    stats: AttemptStats
    trend: Trend


@dataclass
class Anomaly:
    kind: AnomalyKind
    backend: str
    topic: str
    started_at: datetime
    detected_at: datetime
    baseline_value: float
    observed_value: float
    description: str
    ended_at: datetime | None = None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.started_at < end and (self.ended_at is None or self.ended_at >= start)


@dataclass(frozen=True)
class InsightsReport:
    window_start: datetime
    window_end: datetime
    overall: AttemptStats
    cells: list[CellInsight]
    time_zone: str
    hour_histogram: list[int]
    peak_hours: list[int]
    overall_trend: Trend
    anomalies: list[Anomaly]
    time_saved: TimeSaved
    topic_mix: list[tuple[str, int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TimeSavedReport:
    user_id: str
    window_start: datetime
    window_end: datetime
    summary: TimeSaved


def resolve_window(
    now: datetime,
    *,
    since: datetime | None,
    length: timedelta | None,
    until: datetime | None,
    default: timedelta,
) -> tuple[datetime, datetime]:
    """[start, end) from the request's oneof and `until`; INVALID_ARGUMENT when empty."""
    end = until or now
    if since is not None:
        start = since
        if start >= end:
            raise InvalidArgument([FieldViolation("since", "must be before until")])
    else:
        span = default if length is None else length
        if span <= timedelta(0):
            raise InvalidArgument([FieldViolation("window", "must be positive")])
        try:
            start = end - span
        except OverflowError:
            raise InvalidArgument([FieldViolation("window", "is too long")]) from None
    return start, end


# --- trends ------------------------------------------------------------------------------


def trend_of(attempts: Sequence[InteractionRecord], end: datetime, min_attempts: int) -> Trend:
    """The 7 days ending at `end` against the 7 days before."""
    this = [a for a in attempts if end - WEEK <= a.occurred_at < end]
    prev = [a for a in attempts if end - 2 * WEEK <= a.occurred_at < end - WEEK]
    wins_this, n_this = success_rate(this)
    wins_prev, n_prev = success_rate(prev)
    rate_this = wins_this / n_this if n_this else 0.0
    rate_prev = wins_prev / n_prev if n_prev else 0.0
    p50_this = median(a.total_time_s for a in this if a.success and a.total_time_s is not None)
    p50_prev = median(a.total_time_s for a in prev if a.success and a.total_time_s is not None)
    if n_this < min_attempts or n_prev < min_attempts:
        direction = TrendDirection.INSUFFICIENT_DATA
    else:
        direction = TrendDirection.STABLE
        pooled = (wins_this + wins_prev) / (n_this + n_prev)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n_this + 1 / n_prev))
        delta = rate_this - rate_prev
        if abs(delta) >= TREND_MIN_SUCCESS_DELTA and (se == 0 or abs(delta) / se >= TREND_Z):
            direction = TrendDirection.IMPROVING if delta > 0 else TrendDirection.DEGRADING
        elif p50_this > 0 and p50_prev > 0:
            if p50_this >= p50_prev * TREND_LATENCY_RATIO:
                direction = TrendDirection.DEGRADING
            elif p50_prev >= p50_this * TREND_LATENCY_RATIO:
                direction = TrendDirection.IMPROVING
    return Trend(direction, rate_this, rate_prev, p50_this, p50_prev)


# --- anomalies ------------------------------------------------------------------------------


def _pct(p: float) -> str:
    return f"{round(p * 100)}%"


def _label(backend: str, topic: str) -> str:
    return f"{backend} {topic}" if topic else backend


def detect_outages(attempts: Sequence[InteractionRecord]) -> list[Anomaly]:
    """Per backend: at least OUTAGE_MIN_FAILURES failures in a row over at least a minute."""
    found: list[Anomaly] = []
    by_backend: dict[str, list[InteractionRecord]] = defaultdict(list)
    for a in attempts:
        if a.outcome is not Outcome.CANCELLED:
            by_backend[a.backend].append(a)
    for backend, seq in by_backend.items():
        run: list[InteractionRecord] = []
        before: deque[bool] = deque(maxlen=50)

        def close(ended: datetime | None) -> None:
            if len(run) >= OUTAGE_MIN_FAILURES and run[-1].occurred_at - run[0].occurred_at >= OUTAGE_MIN_DURATION:
                baseline = sum(before) / len(before) if before else 0.0
                common = Counter(a.outcome for a in run).most_common(1)[0][0]
                found.append(
                    Anomaly(
                        AnomalyKind.OUTAGE, backend, "", run[0].occurred_at, run[OUTAGE_MIN_FAILURES - 1].occurred_at,
                        baseline, 0.0,
                        f"{backend} outage: {len(run)} attempts in a row failed (mostly {common.value.replace('_', ' ')})",
                        ended_at=ended,
                    )
                )

        for a in seq:
            if a.success:
                close(a.occurred_at)
                before.extend([False] * len(run))
                run = []
                before.append(True)
            else:
                run.append(a)
        close(None)
    return found


def _within(at: datetime, outages: Iterable[Anomaly], slack: timedelta = timedelta(0)) -> bool:
    return any(o.started_at <= at and (o.ended_at is None or at <= o.ended_at + slack) for o in outages)


def detect_rate_changes(attempts: Sequence[InteractionRecord], outages: Sequence[Anomaly]) -> list[Anomaly]:
    """Per (backend, topic): sudden drops and rises of the success rate (a
    two-sided Bernoulli CUSUM against an exponentially weighted reference).
    Drops that an outage already explains are left out, with the recovery."""
    found: list[Anomaly] = []
    cells: dict[tuple[str, str], list[InteractionRecord]] = defaultdict(list)
    for a in attempts:
        if a.outcome is not Outcome.CANCELLED:
            cells[(a.backend, a.topic)].append(a)
    for (backend, topic), seq in cells.items():
        backend_outages = [o for o in outages if o.backend == backend]
        cusum = BernoulliCusum()
        wins = losses = 0.0
        seen = 0
        open_anomaly: Anomaly | None = None
        skipped_drop = False
        for a in seq:
            p0 = (wins + 1.0) / (wins + losses + 2.0)
            change = None
            if seen >= CUSUM_WARMUP:
                change = cusum.update(a.success, p0, 1.0, CUSUM_SHIFT_LOGIT, CUSUM_THRESHOLD, a.occurred_at.timestamp())
            wins, losses = wins * EWMA_KEEP + a.success, losses * EWMA_KEEP + (not a.success)
            seen += 1
            if change is None:
                continue
            since = datetime.fromtimestamp(change.since, UTC)
            observed = change.successes / max(change.successes + change.failures, 1e-9)
            wins, losses = change.successes, change.failures  # the reference restarts from the new regime
            if open_anomaly is not None and open_anomaly.ended_at is None:
                open_anomaly.ended_at = since
            drop = change.direction < 0
            if drop and _within(since, backend_outages):
                skipped_drop, open_anomaly = True, None
                continue
            if not drop and skipped_drop:
                skipped_drop, open_anomaly = False, None  # the recovery from an outage
                continue
            kind = AnomalyKind.SUCCESS_DROP if drop else AnomalyKind.SUCCESS_JUMP
            open_anomaly = Anomaly(
                kind, backend, topic, since, a.occurred_at, p0, observed,
                f"{_label(backend, topic)} success {_pct(p0)} → {_pct(observed)}",
            )
            found.append(open_anomaly)
    return found


def detect_latency_spikes(attempts: Sequence[InteractionRecord]) -> list[Anomaly]:
    """Per (backend, topic): the median of the last SPIKE_RECENT successful
    attempts' total time at least doubling against the median of the
    SPIKE_BASELINE before them."""
    found: list[Anomaly] = []
    cells: dict[tuple[str, str], list[InteractionRecord]] = defaultdict(list)
    for a in attempts:
        if a.success and a.total_time_s is not None:
            cells[(a.backend, a.topic)].append(a)
    for (backend, topic), seq in cells.items():
        baseline: deque[float] = deque(maxlen=SPIKE_BASELINE)
        recent: deque[InteractionRecord] = deque()
        spike: Anomaly | None = None
        for a in seq:
            recent.append(a)
            if len(recent) > SPIKE_RECENT:
                old = recent.popleft()
                if spike is None:
                    baseline.append(old.total_time_s or 0.0)
            if len(recent) < SPIKE_RECENT or len(baseline) < CUSUM_WARMUP:
                continue
            base = median(baseline)
            now_median = median(r.total_time_s or 0.0 for r in recent)
            if spike is None and now_median >= max(SPIKE_FACTOR * base, base + SPIKE_MIN_EXTRA_S):
                start = next((r for r in recent if (r.total_time_s or 0.0) >= SPIKE_FACTOR * base), recent[0])
                spike = Anomaly(
                    AnomalyKind.LATENCY_SPIKE, backend, topic, start.occurred_at, a.occurred_at, base, now_median,
                    f"{_label(backend, topic)} latency {base:.1f} s → {now_median:.1f} s",
                )
                found.append(spike)
            elif spike is not None:
                spike.observed_value = max(spike.observed_value, now_median)
                spike.description = f"{_label(backend, topic)} latency {base:.1f} s → {spike.observed_value:.1f} s"
                if now_median < SPIKE_END_FACTOR * base:
                    spike.ended_at = a.occurred_at
                    spike = None
                    recent.clear()  # the spike's values never enter the baseline
    return found


def detect_error_bursts(
    attempts: Sequence[InteractionRecord], outages: Sequence[Anomaly], data_end: datetime
) -> list[Anomaly]:
    """Per backend: BURST_MIN_COUNT or more attempts ending with one error kind,
    making at least half of the backend's attempts, within ten minutes;
    consecutive such periods merge. Bursts inside an outage are the outage."""
    found: list[Anomaly] = []
    buckets: dict[str, dict[int, list[InteractionRecord]]] = defaultdict(lambda: defaultdict(list))
    size = BURST_BUCKET.total_seconds()
    for a in attempts:
        if a.outcome is not Outcome.CANCELLED:
            buckets[a.backend][math.floor(a.occurred_at.timestamp() / size)].append(a)
    last_bucket = math.floor(data_end.timestamp() / size)
    for backend, by_bucket in buckets.items():
        backend_outages = [o for o in outages if o.backend == backend]
        episode: Anomaly | None = None
        episode_kind: Outcome | None = None
        episode_last = -1
        for number in sorted(by_bucket):
            tries = by_bucket[number]
            errors = Counter(a.outcome for a in tries if not a.success)
            hit = next(
                (
                    (kind, n)
                    for kind, n in errors.most_common()
                    if n >= BURST_MIN_COUNT and n >= BURST_MIN_SHARE * len(tries)
                ),
                None,
            )
            if hit is not None:
                kind, n = hit
                of_kind = [a for a in tries if a.outcome is kind]
                if all(_within(a.occurred_at, backend_outages) for a in of_kind):
                    hit = None
            if hit is None:
                continue
            kind, n = hit
            of_kind = [a for a in tries if a.outcome is kind]
            if episode is not None and episode_kind is kind and number == episode_last + 1:
                episode.observed_value = max(episode.observed_value, n / len(tries))
                episode_last = number
                episode.description = _burst_text(backend, kind, episode, of_kind[-1].occurred_at)
                episode.ended_at = of_kind[-1].occurred_at
                continue
            episode = Anomaly(
                AnomalyKind.ERROR_BURST, backend, "", of_kind[0].occurred_at,
                of_kind[BURST_MIN_COUNT - 1].occurred_at, _share_before(by_bucket, number, kind), n / len(tries), "",
                ended_at=of_kind[-1].occurred_at,
            )
            episode.description = _burst_text(backend, kind, episode, of_kind[-1].occurred_at)
            episode_kind, episode_last = kind, number
            found.append(episode)
        if episode is not None and episode_last >= last_bucket:
            episode.ended_at = None  # still going at the end of the data
    return found


def _share_before(by_bucket: Mapping[int, list[InteractionRecord]], number: int, kind: Outcome) -> float:
    before = [a for b in range(number - 6, number) for a in by_bucket.get(b, [])]
    return sum(a.outcome is kind for a in before) / len(before) if before else 0.0


def _burst_text(backend: str, kind: Outcome, episode: Anomaly, last: datetime) -> str:
    minutes = max(1, round((last - episode.started_at).total_seconds() / 60))
    return f"{backend}: burst of {kind.value.replace('_', ' ')} errors over {minutes} min ({_pct(episode.observed_value)} of attempts)"


def detect_anomalies(attempts: Sequence[InteractionRecord], data_end: datetime) -> list[Anomaly]:
    """Every detector over `attempts` (oldest first, cached answers excluded)."""
    outages = detect_outages(attempts)
    return [
        *outages,
        *detect_rate_changes(attempts, outages),
        *detect_latency_spikes(attempts),
        *detect_error_bursts(attempts, outages, data_end),
    ]


# --- the service side ------------------------------------------------------------------------


def _feedback_index(feedback: Iterable[FeedbackRecord]) -> dict[Key, list[FeedbackRecord]]:
    index: dict[Key, list[FeedbackRecord]] = defaultdict(list)
    for fb in feedback:
        index[fb.interaction_key].append(fb)
    return index


class Insights:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        half_life_s: float,
        manual_effort_s: Mapping[str, float],
        trend_min_attempts: int,
    ) -> None:
        self._store = store
        self._clock = clock
        self._half_life_s = half_life_s
        self._effort = dict(manual_effort_s)
        self._trend_min = trend_min_attempts

    async def insights(
        self,
        start: datetime,
        end: datetime,
        *,
        tenant: str | None,
        topic: str | None,
        backend: str | None,
        time_zone: str,
    ) -> InsightsReport:
        zone_name = zone_of(time_zone)
        history_start = min(start - DETECTOR_LEAD_IN, end - 2 * WEEK)
        rows = await self._store.interactions_between(
            history_start, end, tenant=tenant, topic=topic, backend=backend
        )
        history = [r for r, _ in rows]
        in_window = [r for r in history if r.occurred_at >= start]
        attempts = [r for r in in_window if not r.was_cached]
        feedback = _feedback_index(
            await self._store.feedback_on_window(start, end, tenant=tenant, topic=topic, backend=backend)
        )
        now = self._clock.now()
        requests = requests_of(in_window)
        histogram = hour_histogram(requests, ZoneInfo(zone_name))
        scored = [r for r in history if not r.was_cached]

        cells: dict[tuple[str, str], list[InteractionRecord]] = defaultdict(list)
        for r in attempts:
            cells[(r.backend, r.topic)].append(r)
        cell_history: dict[tuple[str, str], list[InteractionRecord]] = defaultdict(list)
        for r in scored:
            cell_history[(r.backend, r.topic)].append(r)
        insights = [
            CellInsight(
                b, t,
                AttemptStats.of(seq, feedback, now, self._half_life_s),
                trend_of(cell_history[(b, t)], end, self._trend_min),
            )
            for (b, t), seq in cells.items()
        ]
        insights.sort(key=lambda c: (-c.stats.attempt_count, c.backend, c.topic))
        anomalies = [a for a in detect_anomalies(scored, end) if a.overlaps(start, end)]
        anomalies.sort(key=lambda a: (a.started_at, a.detected_at), reverse=True)
        return InsightsReport(
            window_start=start,
            window_end=end,
            overall=AttemptStats.of(attempts, feedback, now, self._half_life_s),
            cells=insights,
            time_zone=zone_name,
            hour_histogram=histogram,
            peak_hours=peak_hours(histogram),
            overall_trend=trend_of(scored, end, self._trend_min),
            anomalies=anomalies,
            time_saved=time_saved(in_window, self._effort),
            topic_mix=topic_mix(requests),
        )

    async def time_saved(self, user_id: str, start: datetime, end: datetime, *, tenant: str | None) -> TimeSavedReport:
        rows = await self._store.interactions_between(start, end, tenant=tenant, user_id=user_id)
        return TimeSavedReport(user_id, start, end, time_saved([r for r, _ in rows], self._effort))
