"""GetUserProfile: what the service has learned about one user, computed from
the user's stored interactions and feedback.

A computed profile is stored (`learning_profiles`) with a watermark of the
user's newest rows and reused until the user has new data or it is older than
the cache TTL, so a router asking for the personalisation hint on every
request does not recompute it each time.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from services.learning.records import FeedbackRecord, InteractionRecord, Outcome
from services.learning.stats import (
    NO_FEEDBACK,
    SatisfactionSummary,
    decay_weight,
    hour_histogram,
    peak_hours,
    requests_of,
    topic_mix,
)
from services.learning.store import Store
from services.learning.tables import ProfileRow
from switchboard.runtime.clock import Clock

LIKED = 0.75  # a rating at least this positive means "the user liked this answer"
MIN_LIKED_FOR_LENGTH = 3  # rated answers needed before guessing a preferred length
SHORT_TOKENS = 150
LONG_TOKENS = 600
MIN_REQUESTS_FOR_HINT = 3
MIN_REQUESTS_PER_TOPIC = 5


class AnswerLength(StrEnum):
    UNKNOWN = "unknown"
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


@dataclass(frozen=True)
class Style:
    mean_prompt_chars: float = 0.0
    mean_prompt_tokens: float = 0.0
    mean_completion_tokens: float = 0.0
    preferred_answer_length: AnswerLength = AnswerLength.UNKNOWN
    preferred_completion_tokens: int = 0


@dataclass(frozen=True)
class Preference:
    backend: str
    topic: str  # "" = across all topics
    success_rate: float
    satisfaction: float  # NO_FEEDBACK when none
    interaction_count: int


@dataclass(frozen=True)
class UserProfile:
    user_id: str
    time_zone: str
    interaction_count: int = 0
    topic_mix: list[tuple[str, int, float]] = field(default_factory=list)
    hour_histogram: list[int] = field(default_factory=lambda: [0] * 24)
    peak_hours: list[int] = field(default_factory=list)
    style: Style = field(default_factory=Style)
    preferred_backends: list[Preference] = field(default_factory=list)
    satisfaction: SatisfactionSummary = field(default_factory=SatisfactionSummary)
    personalisation_hint: str = ""
    first_seen: datetime | None = None
    last_seen: datetime | None = None


_PROFILE_JSON = TypeAdapter(UserProfile)


def answer_length(tokens: float) -> AnswerLength:
    if tokens < SHORT_TOKENS:
        return AnswerLength.SHORT
    if tokens <= LONG_TOKENS:
        return AnswerLength.MEDIUM
    return AnswerLength.LONG


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def compute_profile(
    user_id: str,
    zone_name: str,
    attempts: Sequence[InteractionRecord],
    feedback: Sequence[FeedbackRecord],
    now: datetime,
    half_life_s: float,
) -> UserProfile:
    """The profile from the user's attempts (oldest first) and the feedback
    given by them or on their interactions."""
    if not attempts:
        return UserProfile(user_id, zone_name, satisfaction=SatisfactionSummary.of(feedback, now, half_life_s))
    requests = requests_of(attempts)
    histogram = hour_histogram(requests, ZoneInfo(zone_name))
    by_id = {a.interaction_id: a for a in attempts}
    style = _style(requests, attempts, feedback, by_id)
    mix = topic_mix(requests)
    satisfaction = SatisfactionSummary.of(feedback, now, half_life_s)
    return UserProfile(
        user_id=user_id,
        time_zone=zone_name,
        interaction_count=len(requests),
        topic_mix=mix,
        hour_histogram=histogram,
        peak_hours=peak_hours(histogram),
        style=style,
        preferred_backends=_preferences(attempts, feedback, by_id, now, half_life_s),
        satisfaction=satisfaction,
        personalisation_hint=_hint(len(requests), mix, style, satisfaction),
        first_seen=min(a.occurred_at for a in attempts),
        last_seen=max(a.occurred_at for a in attempts),
    )


def _style(
    requests: Sequence[InteractionRecord],
    attempts: Sequence[InteractionRecord],
    feedback: Sequence[FeedbackRecord],
    by_id: dict[str, InteractionRecord],
) -> Style:
    liked = [
        by_id[fb.interaction_id].completion_tokens
        for fb in feedback
        if fb.explicit
        and fb.positive >= LIKED
        and fb.interaction_id in by_id
        and by_id[fb.interaction_id].completion_tokens > 0
    ]
    preferred = int(statistics.median(liked)) if len(liked) >= MIN_LIKED_FOR_LENGTH else 0
    return Style(
        mean_prompt_chars=_mean([r.prompt_chars for r in requests if r.prompt_chars > 0]),
        mean_prompt_tokens=_mean([r.prompt_tokens for r in requests if r.prompt_tokens > 0]),
        mean_completion_tokens=_mean([a.completion_tokens for a in attempts if a.success and a.completion_tokens > 0]),
        preferred_answer_length=answer_length(preferred) if preferred else AnswerLength.UNKNOWN,
        preferred_completion_tokens=preferred,
    )


def _preferences(
    attempts: Sequence[InteractionRecord],
    feedback: Sequence[FeedbackRecord],
    by_id: dict[str, InteractionRecord],
    now: datetime,
    half_life_s: float,
) -> list[Preference]:
    """Backends the user does best with: across topics first, then the best
    backend of each topic the user asks about often. Ranked by a decayed
    success rate shrunk towards 1/2 (so one lucky try does not top the list),
    averaged with satisfaction when there is feedback."""
    cells: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # wins, weight, count
    for a in attempts:
        if a.outcome is Outcome.CANCELLED or a.was_cached:
            continue
        w = decay_weight(a.occurred_at, now, half_life_s)
        for key in ((a.backend, ""), (a.backend, a.topic)):
            cell = cells[key]
            cell[0] += w * a.success
            cell[1] += w
            cell[2] += 1
    liked: dict[tuple[str, str], list[FeedbackRecord]] = defaultdict(list)
    for fb in feedback:
        a = by_id.get(fb.interaction_id)
        if a is not None:
            liked[(a.backend, "")].append(fb)
            liked[(a.backend, a.topic)].append(fb)

    def build(key: tuple[str, str]) -> tuple[float, Preference]:
        wins, weight, count = cells[key]
        sat = SatisfactionSummary.of(liked.get(key, []), now, half_life_s).score
        shrunk = (wins + 1.0) / (weight + 2.0)
        rank = shrunk if sat == NO_FEEDBACK else (shrunk + sat) / 2
        rate = wins / weight if weight > 0 else 0.0
        return rank, Preference(key[0], key[1], rate, sat, int(count))

    overall = sorted((build(k) for k in cells if k[1] == ""), key=lambda rp: (-rp[0], rp[1].backend))
    per_topic: list[tuple[float, Preference]] = []
    topics = {k[1] for k in cells if k[1]}
    for topic in sorted(topics):
        options = [build(k) for k in cells if k[1] == topic and cells[k][2] >= MIN_REQUESTS_PER_TOPIC]
        if len({p.backend for _, p in options}) >= 2:  # a preference needs a choice
            per_topic.append(max(options, key=lambda rp: (rp[0], rp[1].backend)))
    return [p for _, p in overall] + [p for _, p in per_topic]


_TOPIC_HINTS = {
    "code": "Often asks about code; include working code examples.",
    "math": "Often asks about math; show the steps.",
    "creative": "Often asks for creative writing.",
    "quick_question": "Mostly asks quick questions; answer directly.",
    "long_context": "Often works with long documents; cite the relevant parts.",
}


def _hint(requests: int, mix: Sequence[tuple[str, int, float]], style: Style, sat: SatisfactionSummary) -> str:
    if requests < MIN_REQUESTS_FOR_HINT:
        return ""
    parts: list[str] = []
    if style.preferred_answer_length is AnswerLength.SHORT:
        parts.append("Prefers concise answers.")
    elif style.preferred_answer_length is AnswerLength.LONG:
        parts.append("Prefers detailed, thorough answers.")
    if mix and mix[0][2] >= 0.4 and mix[0][0] in _TOPIC_HINTS:
        parts.append(_TOPIC_HINTS[mix[0][0]])
    if sat.dissatisfaction_signals >= 3 and sat.dissatisfaction_signals >= 0.2 * requests:
        parts.append("Often re-asks: answer precisely and check the question was understood.")
    return " ".join(parts)


class UnknownTimeZone(ValueError):
    pass


def zone_of(name: str) -> str:
    """The IANA zone to use ("" → UTC); raises UnknownTimeZone."""
    name = name.strip() or "UTC"
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise UnknownTimeZone(name) from None
    return name


class Profiles:
    def __init__(self, store: Store, clock: Clock, *, half_life_s: float, cache_ttl_s: float) -> None:
        self._store = store
        self._clock = clock
        self._half_life_s = half_life_s
        self._ttl = timedelta(seconds=cache_ttl_s)

    async def profile(self, tenant: str, user_id: str, time_zone: str) -> UserProfile:
        zone_name = zone_of(time_zone)
        now = self._clock.now()
        watermark = await self._store.user_watermark(tenant, user_id)
        if self._ttl:
            cached = await self._store.cached_profile(tenant, user_id, zone_name)
            if cached is not None and cached.watermark == watermark and now - cached.computed_at < self._ttl:
                return _PROFILE_JSON.validate_json(cached.payload)
        attempts = await self._store.user_interactions(tenant, user_id)
        feedback = await self._store.feedback_on_user(tenant, user_id)
        profile = compute_profile(
            user_id, zone_name, [a for a, _ in attempts], [f for f, _ in feedback], now, self._half_life_s
        )
        if self._ttl and attempts:
            await self._store.save_profile(
                ProfileRow(
                    tenant=tenant, user_id=user_id, time_zone=zone_name, watermark=watermark,
                    computed_at=now, payload=_PROFILE_JSON.dump_json(profile).decode(),
                )
            )
        return profile
