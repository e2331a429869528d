"""Thin gRPC layer of the learning service: protobuf ↔ domain records, the
caller's tenant, and domain errors → status codes. The work happens in
ingest.py (writes), modelstate.py (Recommend), profiles.py and insights.py.

Tenant: the `x-switchboard-tenant` metadata names the caller's tenant. Writes
are stored under it (or under `Interaction.tenant`, which must then agree), and
every read is scoped to it; without the header, writes go to the "default"
tenant and GetInsights / GetTimeSaved may span all tenants.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from services.learning.feedback import (
    SIGNAL_POSITIVE,
    derived_feedback_id,
    feedback_violations,
    stars_positive,
    thumb_positive,
)
from services.learning.ingest import Ingestor, StorageUnavailable
from services.learning.insights import Anomaly, Insights, Trend, resolve_window
from services.learning.modelstate import ModelKeeper, ModelNotReady
from services.learning.profiles import Profiles, UnknownTimeZone
from services.learning.records import (
    DEFAULT_TOPIC,
    MAX_BACKEND,
    MAX_TOPIC,
    MAX_USER,
    Ack,
    Durability,
    FeedbackKind,
    FeedbackRecord,
    IngestResult,
    InteractionRecord,
    Outcome,
    Rejected,
    Signal,
    check_label,
    check_text,
    check_time,
    interaction_violations,
    normalise_label,
)
from services.learning.stats import AttemptStats, LatencySummary, SatisfactionSummary, TimeSaved
from services.learning.store import is_unavailable
from switchboard.learning.v1 import learning_pb2 as pb
from switchboard.runtime.tenant import DEFAULT_TENANT, TENANT_METADATA, caller_tenant
from switchboard.learning.v1 import learning_pb2_grpc
from switchboard.runtime.clock import Clock
from switchboard.runtime.status import FieldViolation, InvalidArgument

log = logging.getLogger("switchboard.learning.service")


MAX_DRAWS = 256  # RecommendRequest.draws: enough for a router's second of one key, small enough to answer at once

_OUTCOMES = {
    pb.OUTCOME_SUCCESS: Outcome.SUCCESS,
    pb.OUTCOME_TIMEOUT: Outcome.TIMEOUT,
    pb.OUTCOME_RATE_LIMITED: Outcome.RATE_LIMITED,
    pb.OUTCOME_SERVER_ERROR: Outcome.SERVER_ERROR,
    pb.OUTCOME_CONNECTION_ERROR: Outcome.CONNECTION_ERROR,
    pb.OUTCOME_MALFORMED_STREAM: Outcome.MALFORMED_STREAM,
    pb.OUTCOME_CANCELLED: Outcome.CANCELLED,
    pb.OUTCOME_CONTENT_FILTERED: Outcome.CONTENT_FILTERED,
    pb.OUTCOME_OTHER_ERROR: Outcome.OTHER_ERROR,
}
_OUTCOMES_PB = {v: k for k, v in _OUTCOMES.items()}
_DURABILITY = {Durability.STORED: pb.DURABILITY_STORED, Durability.SPOOLED: pb.DURABILITY_SPOOLED}
_SIGNALS = {
    pb.IMPLICIT_SIGNAL_REASK: Signal.REASK,
    pb.IMPLICIT_SIGNAL_REGENERATE: Signal.REGENERATE,
    pb.IMPLICIT_SIGNAL_ABANDONED: Signal.ABANDONED,
    pb.IMPLICIT_SIGNAL_COPIED: Signal.COPIED,
}
_BASIS = {
    "prior": pb.ESTIMATE_BASIS_PRIOR,
    "global": pb.ESTIMATE_BASIS_GLOBAL,
    "topic": pb.ESTIMATE_BASIS_TOPIC,
    "user": pb.ESTIMATE_BASIS_USER,
}


# --- conversions ------------------------------------------------------------------------------


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def dur(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(round(seconds * 1e9))
    return out


def _seconds(value: duration_pb2.Duration) -> float:
    return value.seconds + value.nanos / 1e9


def _datetime(
    message: Any, name: str, path: str, violations: list[FieldViolation], default: datetime | None
) -> datetime | None:
    if not message.HasField(name):
        return default
    try:
        return getattr(message, name).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        violations.append(FieldViolation(path, "is not a valid timestamp"))
        return default


def _topic(raw: str, path: str, violations: list[FieldViolation]) -> str:
    topic = normalise_label(raw) or DEFAULT_TOPIC
    check_label(violations, path, topic, MAX_TOPIC)
    return topic


def interaction_from_pb(
    msg: pb.Interaction, tenant: str | None, now: datetime, max_skew_s: float
) -> tuple[InteractionRecord | None, list[FieldViolation]]:
    """The domain record, or the violations (paths relative to the interaction)."""
    v: list[FieldViolation] = []
    outcome = _OUTCOMES.get(msg.outcome)
    if outcome is None:
        why = "must be set" if msg.outcome == pb.OUTCOME_UNSPECIFIED else f"unknown value {msg.outcome}"
        v.append(FieldViolation("outcome", why))
    own = msg.tenant.strip()
    if own and tenant and own != tenant:
        v.append(FieldViolation("tenant", f"does not match the {TENANT_METADATA} metadata"))
    occurred = _datetime(msg, "occurred_at", "occurred_at", v, now)
    topic = _topic(msg.topic, "topic", v)
    for name in ("time_to_first_token", "total_time"):
        if msg.HasField(name) and not _valid_duration(getattr(msg, name)):
            v.append(FieldViolation(name, "is not a valid duration"))
    if v:
        return None, v
    assert outcome is not None and occurred is not None
    record = InteractionRecord(
        tenant=own or tenant or DEFAULT_TENANT,
        interaction_id=msg.interaction_id,
        backend=msg.backend.strip(),
        outcome=outcome,
        occurred_at=occurred,
        request_id=msg.request_id,
        user_id=msg.user_id,
        topic=topic,
        model=msg.model,
        error_detail=msg.error_detail,
        attempt=msg.attempt,
        ttft_s=_seconds(msg.time_to_first_token) if msg.HasField("time_to_first_token") else None,
        total_time_s=_seconds(msg.total_time) if msg.HasField("total_time") else None,
        prompt_tokens=msg.prompt_tokens,
        completion_tokens=msg.completion_tokens,
        cost_usd=msg.cost_usd,
        prompt_chars=msg.prompt_chars,
        fallback=msg.fallback,
        was_cached=msg.was_cached,
        prompt_fingerprint=msg.prompt_fingerprint,
    )
    return record, interaction_violations(record, now, max_skew_s, prefix="")


def _valid_duration(value: duration_pb2.Duration) -> bool:
    """Seconds and nanos must agree in sign (google/protobuf/duration.proto)."""
    s, n = value.seconds, value.nanos
    return abs(n) < 1_000_000_000 and not (s > 0 and n < 0) and not (s < 0 and n > 0)


def ack_pb(ack: Ack) -> pb.InteractionAck:
    return pb.InteractionAck(
        interaction_id=ack.interaction_id,
        stored_at=ts(ack.stored_at),
        duplicate=ack.duplicate,
        durability=_DURABILITY[ack.durability],
    )


def counts_pb(result: IngestResult) -> pb.IngestCounts:
    return pb.IngestCounts(
        received=result.received,
        stored=result.count(durability=Durability.STORED, duplicate=False),
        spooled=result.count(durability=Durability.SPOOLED, duplicate=False),
        duplicates=result.count(duplicate=True),
        rejected=len(result.rejected),
    )


def rejected_pb(rejected: Rejected) -> pb.RejectedInteraction:
    return pb.RejectedInteraction(
        index=rejected.index, interaction_id=rejected.interaction_id, field=rejected.field, reason=rejected.reason
    )


def _rejection(index: int, interaction_id: str, violations: Sequence[FieldViolation]) -> Rejected:
    first = violations[0]
    reason = first.description
    if len(violations) > 1:
        reason = "; ".join(f"{x.field}: {x.description}" for x in violations)
    return Rejected(index, interaction_id, first.field, reason)


def latency_pb(value: LatencySummary) -> pb.LatencyStats:
    return pb.LatencyStats(
        sample_count=value.sample_count,
        mean=dur(value.mean_s),
        p50=dur(value.p50_s),
        p90=dur(value.p90_s),
        p95=dur(value.p95_s),
        p99=dur(value.p99_s),
    )


def satisfaction_pb(value: SatisfactionSummary) -> pb.Satisfaction:
    return pb.Satisfaction(
        score=value.score,
        rated_count=value.rated_count,
        thumbs_up=value.thumbs_up,
        thumbs_down=value.thumbs_down,
        mean_stars=value.mean_stars,
        dissatisfaction_signals=value.dissatisfaction_signals,
    )


def stats_pb(value: AttemptStats) -> pb.InteractionStats:
    return pb.InteractionStats(
        attempt_count=value.attempt_count,
        success_count=value.success_count,
        success_rate=value.success_rate,
        time_to_first_token=latency_pb(value.time_to_first_token),
        total_time=latency_pb(value.total_time),
        outcomes=[pb.OutcomeCount(outcome=_OUTCOMES_PB[o], count=n) for o, n in value.outcomes],
        prompt_tokens=value.prompt_tokens,
        completion_tokens=value.completion_tokens,
        cost_usd=value.cost_usd,
        satisfaction=satisfaction_pb(value.satisfaction),
    )


def trend_pb(value: Trend) -> pb.Trend:
    return pb.Trend(
        direction=pb.TrendDirection.Value(f"TREND_DIRECTION_{value.direction.name}"),
        success_rate_this_week=value.success_rate_this_week,
        success_rate_previous_week=value.success_rate_previous_week,
        p50_total_time_this_week=dur(value.p50_total_time_this_week_s),
        p50_total_time_previous_week=dur(value.p50_total_time_previous_week_s),
    )


def anomaly_pb(value: Anomaly) -> pb.Anomaly:
    out = pb.Anomaly(
        kind=pb.AnomalyKind.Value(f"ANOMALY_KIND_{value.kind.name}"),
        backend=value.backend,
        topic=value.topic,
        started_at=ts(value.started_at),
        detected_at=ts(value.detected_at),
        baseline_value=value.baseline_value,
        observed_value=value.observed_value,
        description=value.description,
    )
    if value.ended_at is not None:
        out.ended_at.CopyFrom(ts(value.ended_at))
    return out


def topic_mix_pb(mix: Sequence[tuple[str, int, float]]) -> list[pb.TopicShare]:
    return [pb.TopicShare(topic=t, count=n, share=share) for t, n, share in mix]


def time_saved_pb(value: TimeSaved) -> list[pb.TopicTimeSaved]:
    return [
        pb.TopicTimeSaved(topic=t.topic, successful_requests=t.successful_requests, time_saved=dur(t.saved_s))
        for t in value.by_topic
    ]


# --- the servicer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    batch_max: int
    max_skew_s: float


T = TypeVar("T")


class LearningServiceServicer(learning_pb2_grpc.LearningServiceServicer):
    def __init__(
        self,
        *,
        ingestor: Ingestor,
        keeper: ModelKeeper,
        profiles: Profiles,
        insights: Insights,
        clock: Clock,
        limits: Limits,
        stopping: asyncio.Event,
        storage_ready: Callable[[], bool],
    ) -> None:
        self._ingestor = ingestor
        self._keeper = keeper
        self._profiles = profiles
        self._insights = insights
        self._clock = clock
        self._limits = limits
        self._stopping = stopping
        self._storage_ready = storage_ready

    # --- interactions ---------------------------------------------------------------

    async def RecordInteraction(self, request: pb.RecordInteractionRequest, context: grpc.aio.ServicerContext) -> pb.RecordInteractionResponse:  # noqa: N802
        tenant = caller_tenant(context)
        if not request.HasField("interaction"):
            raise InvalidArgument([FieldViolation("interaction", "must be set")])
        record, violations = interaction_from_pb(
            request.interaction, tenant, self._clock.now(), self._limits.max_skew_s
        )
        if violations:
            raise InvalidArgument([FieldViolation(f"interaction.{x.field}", x.description) for x in violations])
        assert record is not None
        (ack,) = await self._write(context, [record])
        return pb.RecordInteractionResponse(ack=ack_pb(ack))

    async def RecordInteractions(self, request: pb.RecordInteractionsRequest, context: grpc.aio.ServicerContext) -> pb.RecordInteractionsResponse:  # noqa: N802
        tenant = caller_tenant(context)
        n = len(request.interactions)
        if n == 0:
            raise InvalidArgument([FieldViolation("interactions", "must not be empty")])
        if n > self._limits.batch_max:
            raise InvalidArgument([FieldViolation("interactions", f"at most {self._limits.batch_max} per call (got {n})")])
        result = IngestResult(received=n)
        valid: list[InteractionRecord] = []
        now = self._clock.now()
        for index, msg in enumerate(request.interactions):
            record, violations = interaction_from_pb(msg, tenant, now, self._limits.max_skew_s)
            if violations:
                result.rejected.append(_rejection(index, msg.interaction_id, violations))
            else:
                assert record is not None
                valid.append(record)
        if valid:
            result.acks = await self._write(context, valid)
        return pb.RecordInteractionsResponse(
            acks=[ack_pb(a) for a in result.acks],
            rejected=[rejected_pb(r) for r in result.rejected],
            counts=counts_pb(result),
        )

    async def StreamInteractions(self, request_iterator: AsyncIterator[pb.StreamInteractionsRequest], context: grpc.aio.ServicerContext) -> pb.StreamInteractionsResponse:  # noqa: N802
        tenant = caller_tenant(context)
        result = IngestResult()
        writer = _StreamWriter(self._ingestor.record, self._limits.batch_max)
        try:
            async for index, request in _indexed_until(request_iterator, self._stopping):
                result.received += 1
                if not request.HasField("interaction"):
                    result.rejected.append(Rejected(index, "", "interaction", "must be set"))
                    continue
                record, violations = interaction_from_pb(
                    request.interaction, tenant, self._clock.now(), self._limits.max_skew_s
                )
                if violations:
                    result.rejected.append(_rejection(index, request.interaction.interaction_id, violations))
                    continue
                assert record is not None
                await writer.add(record)
            result.acks = await writer.finish()
        except StorageUnavailable as exc:
            await _unavailable(context, str(exc))
        finally:
            writer.abandon()
        last_id = result.acks[-1].interaction_id if result.acks else ""
        return pb.StreamInteractionsResponse(
            counts=counts_pb(result), rejected=[rejected_pb(r) for r in result.rejected], last_interaction_id=last_id
        )

    async def _write(self, context: grpc.aio.ServicerContext, records: Sequence[InteractionRecord]) -> list[Ack]:
        try:
            return await self._ingestor.record(records)
        except StorageUnavailable as exc:
            await _unavailable(context, str(exc))

    # --- feedback --------------------------------------------------------------------

    async def RecordFeedback(self, request: pb.RecordFeedbackRequest, context: grpc.aio.ServicerContext) -> pb.RecordFeedbackResponse:  # noqa: N802
        tenant = caller_tenant(context) or DEFAULT_TENANT
        v: list[FieldViolation] = []
        occurred = _datetime(request, "occurred_at", "occurred_at", v, self._clock.now())
        which = request.WhichOneof("feedback")
        kind: FeedbackKind | None = None
        positive = 0.0
        thumb: str | None = None
        stars: int | None = None
        signal: Signal | None = None
        if which is None:
            v.append(FieldViolation("feedback", "exactly one of thumb, stars or implicit must be set"))
        elif which == "thumb":
            kind = FeedbackKind.THUMB
            if request.thumb not in (pb.THUMB_UP, pb.THUMB_DOWN):
                v.append(FieldViolation("thumb", "must be THUMB_UP or THUMB_DOWN"))
            thumb = "up" if request.thumb == pb.THUMB_UP else "down"
            positive = thumb_positive(request.thumb == pb.THUMB_UP)
        elif which == "stars":
            kind = FeedbackKind.STARS
            stars = request.stars
            if not 1 <= stars <= 5:
                v.append(FieldViolation("stars", "must be between 1 and 5"))
            positive = stars_positive(stars) if 1 <= stars <= 5 else 0.0
        else:
            kind = FeedbackKind.IMPLICIT
            signal = _SIGNALS.get(request.implicit.signal)
            if signal is None:
                v.append(FieldViolation("implicit.signal", "must be set to a known signal"))
            else:
                positive = SIGNAL_POSITIVE[signal]
        related = request.implicit.related_interaction_id if which == "implicit" else ""
        v.extend(feedback_violations(request.interaction_id, request.feedback_id, request.user_id, request.comment, related))
        if occurred is not None:
            check_time(v, "occurred_at", occurred, self._clock.now(), self._limits.max_skew_s)
        if v:
            raise InvalidArgument(v)
        assert kind is not None and occurred is not None
        record = FeedbackRecord(
            tenant=tenant,
            feedback_id=request.feedback_id or derived_feedback_id(kind, request.interaction_id, request.user_id, signal),
            interaction_id=request.interaction_id,
            kind=kind,
            positive=positive,
            occurred_at=occurred,
            caller_id=bool(request.feedback_id),
            user_id=request.user_id,
            thumb=thumb,
            stars=stars,
            signal=signal,
            related_interaction_id=related,
            comment=request.comment,
        )
        try:
            ack = await self._ingestor.record_feedback(record)
        except StorageUnavailable as exc:
            await _unavailable(context, str(exc))
        return pb.RecordFeedbackResponse(
            feedback_id=ack.feedback_id,
            stored_at=ts(ack.stored_at),
            duplicate=ack.duplicate,
            replaced_previous=ack.replaced_previous,
            interaction_known=ack.interaction_known,
            durability=_DURABILITY[ack.durability],
        )

    # --- recommendations ----------------------------------------------------------------

    async def Recommend(self, request: pb.RecommendRequest, context: grpc.aio.ServicerContext) -> pb.RecommendResponse:  # noqa: N802
        tenant = caller_tenant(context) or DEFAULT_TENANT
        v: list[FieldViolation] = []
        check_text(v, "user_id", request.user_id, MAX_USER)
        topic = _topic(request.topic, "topic", v)
        seen: set[str] = set()
        for i, name in enumerate(request.candidate_backends):
            path = f"candidate_backends[{i}]"
            if not name.strip():
                v.append(FieldViolation(path, "must not be empty"))
            elif name in seen:
                v.append(FieldViolation(path, f"duplicate backend {name!r}"))
            else:
                check_label(v, path, name, MAX_BACKEND)
            seen.add(name)
        if request.draws > MAX_DRAWS:
            v.append(FieldViolation("draws", f"must be at most {MAX_DRAWS}, got {request.draws}"))
        if v:
            raise InvalidArgument(v)
        try:
            result = self._keeper.recommend(
                tenant, request.user_id, topic, list(request.candidate_backends), greedy=request.greedy,
                draws=request.draws,
            )
        except ModelNotReady as exc:
            await _unavailable(context, str(exc))
        out = pb.RecommendResponse(topic=result.topic, exploratory=result.exploratory)
        for rank, r in enumerate(result.ranked, 1):
            item = out.ranked.add(
                backend=r.backend,
                rank=rank,
                score=r.score,
                expected_success=r.expected_success,
                confidence=r.confidence,
                reason=r.reason,
                exploratory=r.exploratory,
                evidence=r.evidence,
                basis=_BASIS.get(r.level, pb.ESTIMATE_BASIS_PRIOR),
            )
            if r.expected_latency_s is not None:
                item.expected_latency.CopyFrom(dur(r.expected_latency_s))
            if r.expected_ttft_s is not None:
                item.expected_time_to_first_token.CopyFrom(dur(r.expected_ttft_s))
        for draw in result.draws:
            out.draws.add(backends=draw.order, exploratory=draw.exploratory)
        if result.updated_at is not None:
            out.model_updated_at.CopyFrom(ts(result.updated_at))
        return out

    # --- reads ------------------------------------------------------------------------------

    async def GetUserProfile(self, request: pb.GetUserProfileRequest, context: grpc.aio.ServicerContext) -> pb.GetUserProfileResponse:  # noqa: N802
        tenant = caller_tenant(context) or DEFAULT_TENANT
        _require_user(request.user_id)
        try:
            p = await self._read(context, self._profiles.profile(tenant, request.user_id, request.time_zone))
        except UnknownTimeZone as exc:
            raise InvalidArgument([FieldViolation("time_zone", f"unknown IANA time zone {exc}")]) from None
        out = pb.GetUserProfileResponse(
            user_id=p.user_id,
            interaction_count=p.interaction_count,
            topic_mix=topic_mix_pb(p.topic_mix),
            time_zone=p.time_zone,
            hour_histogram=p.hour_histogram,
            peak_hours=p.peak_hours,
            style=pb.CommunicationStyle(
                mean_prompt_chars=p.style.mean_prompt_chars,
                mean_prompt_tokens=p.style.mean_prompt_tokens,
                mean_completion_tokens=p.style.mean_completion_tokens,
                preferred_answer_length=pb.AnswerLength.Value(
                    "ANSWER_LENGTH_UNSPECIFIED"
                    if p.style.preferred_answer_length.value == "unknown"
                    else f"ANSWER_LENGTH_{p.style.preferred_answer_length.name}"
                ),
                preferred_completion_tokens=p.style.preferred_completion_tokens,
            ),
            preferred_backends=[
                pb.BackendPreference(
                    backend=b.backend, topic=b.topic, success_rate=b.success_rate,
                    satisfaction=b.satisfaction, interaction_count=b.interaction_count,
                )
                for b in p.preferred_backends
            ],
            satisfaction=satisfaction_pb(p.satisfaction),
            personalisation_hint=p.personalisation_hint,
        )
        if p.first_seen is not None:
            out.first_seen.CopyFrom(ts(p.first_seen))
        if p.last_seen is not None:
            out.last_seen.CopyFrom(ts(p.last_seen))
        return out

    async def GetInsights(self, request: pb.GetInsightsRequest, context: grpc.aio.ServicerContext) -> pb.GetInsightsResponse:  # noqa: N802
        tenant = _scoped_tenant(caller_tenant(context), request.tenant)
        start, end = self._window(request, default=timedelta(days=7))
        v: list[FieldViolation] = []
        topic = _topic(request.topic, "topic", v) if request.topic.strip() else None
        backend = request.backend.strip() or None
        if backend:
            check_label(v, "backend", backend, MAX_BACKEND)
        if v:
            raise InvalidArgument(v)
        try:
            r = await self._read(
                context,
                self._insights.insights(
                    start, end, tenant=tenant, topic=topic, backend=backend, time_zone=request.time_zone
                ),
            )
        except UnknownTimeZone as exc:
            raise InvalidArgument([FieldViolation("time_zone", f"unknown IANA time zone {exc}")]) from None
        return pb.GetInsightsResponse(
            window_start=ts(r.window_start),
            window_end=ts(r.window_end),
            overall=stats_pb(r.overall),
            cells=[
                pb.BackendTopicInsight(backend=c.backend, topic=c.topic, stats=stats_pb(c.stats), trend=trend_pb(c.trend))
                for c in r.cells
            ],
            time_zone=r.time_zone,
            hour_histogram=r.hour_histogram,
            peak_hours=r.peak_hours,
            overall_trend=trend_pb(r.overall_trend),
            anomalies=[anomaly_pb(a) for a in r.anomalies],
            time_saved=dur(r.time_saved.saved_s),
            topic_mix=topic_mix_pb(r.topic_mix),
        )

    async def GetTimeSaved(self, request: pb.GetTimeSavedRequest, context: grpc.aio.ServicerContext) -> pb.GetTimeSavedResponse:  # noqa: N802
        tenant = _scoped_tenant(caller_tenant(context), request.tenant)
        _require_user(request.user_id)
        start, end = self._window(request, default=timedelta(days=1))
        r = await self._read(context, self._insights.time_saved(request.user_id, start, end, tenant=tenant))
        return pb.GetTimeSavedResponse(
            user_id=r.user_id,
            window_start=ts(r.window_start),
            window_end=ts(r.window_end),
            time_saved=dur(r.summary.saved_s),
            request_count=r.summary.request_count,
            successful_requests=r.summary.successful_requests,
            time_waiting=dur(r.summary.waiting_s),
            by_topic=time_saved_pb(r.summary),
        )

    async def ForgetUser(self, request: pb.ForgetUserRequest, context: grpc.aio.ServicerContext) -> pb.ForgetUserResponse:  # noqa: N802
        tenant = caller_tenant(context) or DEFAULT_TENANT
        _require_user(request.user_id)
        if not self._storage_ready():
            await _unavailable(context, "the database is not reachable yet")
        try:
            done = await self._ingestor.forget_user(tenant, request.user_id)
        except StorageUnavailable as exc:
            await _unavailable(context, str(exc))
        return pb.ForgetUserResponse(
            user_id=request.user_id,
            interactions_deleted=done.counts.interactions,
            feedback_deleted=done.counts.feedback,
            model_cells_deleted=done.model_cells,
            profile_records_deleted=done.counts.profiles,
            forgotten_at=ts(done.at),
        )

    # --- helpers ----------------------------------------------------------------------------

    def _window(self, request: Any, *, default: timedelta) -> tuple[datetime, datetime]:
        v: list[FieldViolation] = []
        now = self._clock.now()
        until = _datetime(request, "until", "until", v, None)
        since = _datetime(request, "since", "since", v, None)
        length = None
        if request.WhichOneof("start") == "window":
            if not _valid_duration(request.window):
                v.append(FieldViolation("window", "is not a valid duration"))
            else:
                length = timedelta(seconds=_seconds(request.window))
        if v:
            raise InvalidArgument(v)
        return resolve_window(now, since=since, length=length, until=until, default=default)

    async def _read(self, context: grpc.aio.ServicerContext, work: Any) -> Any:
        """Runs a database read; UNAVAILABLE when the database cannot answer."""
        if not self._storage_ready():
            with contextlib.suppress(Exception):
                work.close()  # never awaited: silence "coroutine was never awaited"
            await _unavailable(context, "the database is not reachable yet")
        try:
            return await work
        except Exception as exc:
            if is_unavailable(exc):
                await _unavailable(context, f"the database is unavailable: {type(exc).__name__}")
            raise


def _require_user(user_id: str) -> None:
    v: list[FieldViolation] = []
    check_text(v, "user_id", user_id, MAX_USER, required=True)
    if v:
        raise InvalidArgument(v)


def _scoped_tenant(caller: str | None, requested: str) -> str | None:
    """A read's tenant filter: the caller's tenant if it sent one (asking for
    another is refused), else the request's, else all tenants."""
    requested = requested.strip()
    if caller and requested and requested != caller:
        raise InvalidArgument([FieldViolation("tenant", f"does not match the {TENANT_METADATA} metadata")])
    return caller or requested or None


async def _unavailable(context: grpc.aio.ServicerContext, message: str) -> NoReturn:
    await context.abort(grpc.StatusCode.UNAVAILABLE, message)
    raise AssertionError("unreachable")  # abort raises


class _StreamWriter:
    """Writes a stream's interactions while it is still being read, in order:
    what arrived while one write was in flight goes into the next, so a fast
    stream is written in batches and a slow one message by message. (The
    caller is answered once, at the end, after everything was accepted.)"""

    def __init__(self, write: Callable[[Sequence[InteractionRecord]], Awaitable[list[Ack]]], most: int) -> None:
        self._write = write
        self._most = most  # queued records before the reader waits (memory bound, batch size)
        self._queued: list[InteractionRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._acks: list[Ack] = []

    async def add(self, record: InteractionRecord) -> None:
        """Queues `record`; raises the failure of an earlier write."""
        if self._task is not None and self._task.done():
            self._task.result()
        self._queued.append(record)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        elif len(self._queued) >= self._most:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            self._acks.extend(await self._write(batch))

    async def finish(self) -> list[Ack]:
        """Waits until everything queued is written; the acknowledgements, in order."""
        if self._task is not None:
            await asyncio.shield(self._task)
        return self._acks

    def abandon(self) -> None:
        """The call ended (however): a write still running completes on its own."""
        if self._task is not None and not self._task.done():
            self._task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: nobody is waiting for it any more


async def _indexed_until(
    iterator: AsyncIterator[T], stopping: asyncio.Event
) -> AsyncIterator[tuple[int, T]]:
    """Numbers the stream's messages; ends early when the server is stopping."""
    it = aiter(iterator)
    index = 0
    stop = asyncio.ensure_future(stopping.wait())
    try:
        while True:
            nxt = asyncio.ensure_future(anext(it))
            done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await nxt
                return
            try:
                message = nxt.result()
            except StopAsyncIteration:
                return
            yield index, message
            index += 1
    finally:
        stop.cancel()
