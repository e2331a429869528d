"""Statistics shared by profiles and insights: latency percentiles, success
rates, satisfaction, topic mix, hour-of-day histograms, time saved."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from services.learning.records import (
    DEFAULT_TOPIC,
    DISSATISFACTION,
    FeedbackKind,
    FeedbackRecord,
    InteractionRecord,
    Key,
    Outcome,
)

NO_FEEDBACK = -1.0  # the proto's "negative when there is no feedback"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks; `sorted_values` not empty."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    return percentile(ordered, 0.5) if ordered else 0.0


def decay_weight(at: datetime, now: datetime, half_life_s: float) -> float:
    age = max(0.0, (now - at).total_seconds())
    return 0.5 ** (age / half_life_s)


@dataclass(frozen=True)
class LatencySummary:
    sample_count: int = 0
    mean_s: float = 0.0
    p50_s: float = 0.0
    p90_s: float = 0.0
    p95_s: float = 0.0
    p99_s: float = 0.0

    @classmethod
    def of(cls, seconds: Iterable[float]) -> LatencySummary:
        ordered = sorted(seconds)
        if not ordered:
            return cls()
        return cls(
            sample_count=len(ordered),
            mean_s=sum(ordered) / len(ordered),
            p50_s=percentile(ordered, 0.50),
            p90_s=percentile(ordered, 0.90),
            p95_s=percentile(ordered, 0.95),
            p99_s=percentile(ordered, 0.99),
        )


@dataclass(frozen=True)
class SatisfactionSummary:
    score: float = NO_FEEDBACK
    rated_count: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    mean_stars: float = 0.0
    dissatisfaction_signals: int = 0

    @classmethod
    def of(cls, feedback: Iterable[FeedbackRecord], now: datetime, half_life_s: float) -> SatisfactionSummary:
        weight_sum = weighted = 0.0
        rated = up = down = signals = 0
        stars: list[int] = []
        for fb in feedback:
            w = decay_weight(fb.occurred_at, now, half_life_s)
            weight_sum += w
            weighted += w * fb.positive
            if fb.kind is FeedbackKind.THUMB:
                rated += 1
                up += fb.thumb == "up"
                down += fb.thumb == "down"
            elif fb.kind is FeedbackKind.STARS and fb.stars is not None:
                rated += 1
                stars.append(fb.stars)
            elif fb.signal in DISSATISFACTION:
                signals += 1
        return cls(
            score=weighted / weight_sum if weight_sum > 0 else NO_FEEDBACK,
            rated_count=rated,
            thumbs_up=up,
            thumbs_down=down,
            mean_stars=sum(stars) / len(stars) if stars else 0.0,
            dissatisfaction_signals=signals,
        )


@dataclass(frozen=True)
class AttemptStats:
    """Statistics over a set of attempts (cached answers excluded by the caller)."""

    attempt_count: int = 0
    success_count: int = 0
    success_rate: float = 0.0
    time_to_first_token: LatencySummary = field(default_factory=LatencySummary)
    total_time: LatencySummary = field(default_factory=LatencySummary)
    outcomes: list[tuple[Outcome, int]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    satisfaction: SatisfactionSummary = field(default_factory=SatisfactionSummary)

    @classmethod
    def of(
        cls,
        attempts: Sequence[InteractionRecord],
        feedback: Mapping[Key, list[FeedbackRecord]],
        now: datetime,
        half_life_s: float,
    ) -> AttemptStats:
        outcomes = Counter(a.outcome for a in attempts)
        successes = outcomes[Outcome.SUCCESS]
        decided = len(attempts) - outcomes[Outcome.CANCELLED]
        return cls(
            attempt_count=len(attempts),
            success_count=successes,
            success_rate=successes / decided if decided else 0.0,
            time_to_first_token=LatencySummary.of(a.ttft_s for a in attempts if a.ttft_s is not None),
            total_time=LatencySummary.of(a.total_time_s for a in attempts if a.success and a.total_time_s is not None),
            outcomes=sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0].value)),
            prompt_tokens=sum(a.prompt_tokens for a in attempts),
            completion_tokens=sum(a.completion_tokens for a in attempts),
            cost_usd=sum(a.cost_usd for a in attempts),
            satisfaction=SatisfactionSummary.of(
                (fb for a in attempts for fb in feedback.get(a.key, ())), now, half_life_s
            ),
        )


def success_rate(attempts: Iterable[InteractionRecord]) -> tuple[int, int]:
    """(successes, attempts that were not cancelled)."""
    wins = total = 0
    for a in attempts:
        if a.outcome is Outcome.CANCELLED:
            continue
        total += 1
        wins += a.success
    return wins, total


def requests_of(attempts: Iterable[InteractionRecord]) -> list[InteractionRecord]:
    """First attempts only: one per client request, so fallbacks don't inflate counts."""
    return [a for a in attempts if a.first_attempt]


def topic_mix(requests: Sequence[InteractionRecord]) -> list[tuple[str, int, float]]:
    """(topic, count, share), largest first."""
    counts = Counter(r.topic or DEFAULT_TOPIC for r in requests)
    total = sum(counts.values())
    return [(t, n, n / total) for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def hour_histogram(requests: Iterable[InteractionRecord], zone: tzinfo) -> list[int]:
    hours = [0] * 24
    for r in requests:
        hours[r.occurred_at.astimezone(zone).hour] += 1
    return hours


def peak_hours(histogram: Sequence[int], top: int = 3) -> list[int]:
    ranked = sorted((h for h in range(24) if histogram[h]), key=lambda h: (-histogram[h], h))
    return ranked[:top]


@dataclass(frozen=True)
class TopicSaving:
    topic: str
    successful_requests: int
    saved_s: float


@dataclass(frozen=True)
class TimeSaved:
    saved_s: float = 0.0
    request_count: int = 0
    successful_requests: int = 0
    waiting_s: float = 0.0
    by_topic: list[TopicSaving] = field(default_factory=list)


def time_saved(attempts: Sequence[InteractionRecord], effort_s: Mapping[str, float]) -> TimeSaved:
    """For each successful request, the manual effort for its topic minus the
    time spent waiting for its attempts; never negative."""
    requests: dict[str, list[InteractionRecord]] = defaultdict(list)
    for a in attempts:
        requests[a.request_key].append(a)
    default_effort = effort_s.get(DEFAULT_TOPIC, 0.0)
    saved: dict[str, float] = defaultdict(float)
    wins: dict[str, int] = defaultdict(int)
    succeeded = 0
    for tries in requests.values():
        first = min(tries, key=lambda a: (a.attempt or 0, a.fallback, a.occurred_at))
        if not any(a.success or a.was_cached for a in tries):
            continue
        succeeded += 1
        waiting = sum(a.total_time_s or 0.0 for a in tries)
        topic = first.topic or DEFAULT_TOPIC
        saved[topic] += max(0.0, effort_s.get(topic, default_effort) - waiting)
        wins[topic] += 1
    by_topic = sorted(
        (TopicSaving(t, wins[t], saved[t]) for t in wins), key=lambda s: (-s.saved_s, s.topic)
    )
    return TimeSaved(
        saved_s=sum(saved.values()),
        request_count=len(requests),
        successful_requests=succeeded,
        waiting_s=sum(a.total_time_s or 0.0 for a in attempts),
        by_topic=by_topic,
    )
