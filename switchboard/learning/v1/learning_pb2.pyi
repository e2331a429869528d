import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_SUCCESS: _ClassVar[Outcome]
    OUTCOME_TIMEOUT: _ClassVar[Outcome]
    OUTCOME_RATE_LIMITED: _ClassVar[Outcome]
    OUTCOME_SERVER_ERROR: _ClassVar[Outcome]
    OUTCOME_CONNECTION_ERROR: _ClassVar[Outcome]
    OUTCOME_MALFORMED_STREAM: _ClassVar[Outcome]
    OUTCOME_CANCELLED: _ClassVar[Outcome]
    OUTCOME_CONTENT_FILTERED: _ClassVar[Outcome]
    OUTCOME_OTHER_ERROR: _ClassVar[Outcome]

class Durability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DURABILITY_UNSPECIFIED: _ClassVar[Durability]
    DURABILITY_STORED: _ClassVar[Durability]
    DURABILITY_SPOOLED: _ClassVar[Durability]

class Thumb(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    THUMB_UNSPECIFIED: _ClassVar[Thumb]
    THUMB_UP: _ClassVar[Thumb]
    THUMB_DOWN: _ClassVar[Thumb]

class ImplicitSignal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPLICIT_SIGNAL_UNSPECIFIED: _ClassVar[ImplicitSignal]
    IMPLICIT_SIGNAL_REASK: _ClassVar[ImplicitSignal]
    IMPLICIT_SIGNAL_REGENERATE: _ClassVar[ImplicitSignal]
    IMPLICIT_SIGNAL_ABANDONED: _ClassVar[ImplicitSignal]
    IMPLICIT_SIGNAL_COPIED: _ClassVar[ImplicitSignal]

class EstimateBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESTIMATE_BASIS_UNSPECIFIED: _ClassVar[EstimateBasis]
    ESTIMATE_BASIS_PRIOR: _ClassVar[EstimateBasis]
    ESTIMATE_BASIS_GLOBAL: _ClassVar[EstimateBasis]
    ESTIMATE_BASIS_TOPIC: _ClassVar[EstimateBasis]
    ESTIMATE_BASIS_USER: _ClassVar[EstimateBasis]

class AnswerLength(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANSWER_LENGTH_UNSPECIFIED: _ClassVar[AnswerLength]
    ANSWER_LENGTH_SHORT: _ClassVar[AnswerLength]
    ANSWER_LENGTH_MEDIUM: _ClassVar[AnswerLength]
    ANSWER_LENGTH_LONG: _ClassVar[AnswerLength]

class TrendDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TREND_DIRECTION_UNSPECIFIED: _ClassVar[TrendDirection]
    TREND_DIRECTION_IMPROVING: _ClassVar[TrendDirection]
    TREND_DIRECTION_STABLE: _ClassVar[TrendDirection]
    TREND_DIRECTION_DEGRADING: _ClassVar[TrendDirection]
    TREND_DIRECTION_INSUFFICIENT_DATA: _ClassVar[TrendDirection]

class AnomalyKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANOMALY_KIND_UNSPECIFIED: _ClassVar[AnomalyKind]
    ANOMALY_KIND_SUCCESS_DROP: _ClassVar[AnomalyKind]
    ANOMALY_KIND_LATENCY_SPIKE: _ClassVar[AnomalyKind]
    ANOMALY_KIND_ERROR_BURST: _ClassVar[AnomalyKind]
    ANOMALY_KIND_OUTAGE: _ClassVar[AnomalyKind]
    ANOMALY_KIND_SUCCESS_JUMP: _ClassVar[AnomalyKind]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_SUCCESS: Outcome
OUTCOME_TIMEOUT: Outcome
OUTCOME_RATE_LIMITED: Outcome
OUTCOME_SERVER_ERROR: Outcome
OUTCOME_CONNECTION_ERROR: Outcome
OUTCOME_MALFORMED_STREAM: Outcome
OUTCOME_CANCELLED: Outcome
OUTCOME_CONTENT_FILTERED: Outcome
OUTCOME_OTHER_ERROR: Outcome
DURABILITY_UNSPECIFIED: Durability
DURABILITY_STORED: Durability
DURABILITY_SPOOLED: Durability
THUMB_UNSPECIFIED: Thumb
THUMB_UP: Thumb
THUMB_DOWN: Thumb
IMPLICIT_SIGNAL_UNSPECIFIED: ImplicitSignal
IMPLICIT_SIGNAL_REASK: ImplicitSignal
IMPLICIT_SIGNAL_REGENERATE: ImplicitSignal
IMPLICIT_SIGNAL_ABANDONED: ImplicitSignal
IMPLICIT_SIGNAL_COPIED: ImplicitSignal
ESTIMATE_BASIS_UNSPECIFIED: EstimateBasis
ESTIMATE_BASIS_PRIOR: EstimateBasis
ESTIMATE_BASIS_GLOBAL: EstimateBasis
ESTIMATE_BASIS_TOPIC: EstimateBasis
ESTIMATE_BASIS_USER: EstimateBasis
ANSWER_LENGTH_UNSPECIFIED: AnswerLength
ANSWER_LENGTH_SHORT: AnswerLength
ANSWER_LENGTH_MEDIUM: AnswerLength
ANSWER_LENGTH_LONG: AnswerLength
TREND_DIRECTION_UNSPECIFIED: TrendDirection
TREND_DIRECTION_IMPROVING: TrendDirection
TREND_DIRECTION_STABLE: TrendDirection
TREND_DIRECTION_DEGRADING: TrendDirection
TREND_DIRECTION_INSUFFICIENT_DATA: TrendDirection
ANOMALY_KIND_UNSPECIFIED: AnomalyKind
ANOMALY_KIND_SUCCESS_DROP: AnomalyKind
ANOMALY_KIND_LATENCY_SPIKE: AnomalyKind
ANOMALY_KIND_ERROR_BURST: AnomalyKind
ANOMALY_KIND_OUTAGE: AnomalyKind
ANOMALY_KIND_SUCCESS_JUMP: AnomalyKind

class Interaction(_message.Message):
    __slots__ = ("interaction_id", "request_id", "tenant", "user_id", "topic", "backend", "model", "outcome", "error_detail", "attempt", "time_to_first_token", "total_time", "prompt_tokens", "completion_tokens", "cost_usd", "prompt_chars", "occurred_at", "fallback", "was_cached", "prompt_fingerprint")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_DETAIL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TIME_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    PROMPT_CHARS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    WAS_CACHED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    request_id: str
    tenant: str
    user_id: str
    topic: str
    backend: str
    model: str
    outcome: Outcome
    error_detail: str
    attempt: int
    time_to_first_token: _duration_pb2.Duration
    total_time: _duration_pb2.Duration
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    prompt_chars: int
    occurred_at: _timestamp_pb2.Timestamp
    fallback: bool
    was_cached: bool
    prompt_fingerprint: str
    def __init__(self, interaction_id: _Optional[str] = ..., request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., user_id: _Optional[str] = ..., topic: _Optional[str] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., error_detail: _Optional[str] = ..., attempt: _Optional[int] = ..., time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., total_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., prompt_chars: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fallback: _Optional[bool] = ..., was_cached: _Optional[bool] = ..., prompt_fingerprint: _Optional[str] = ...) -> None: ...

class InteractionAck(_message.Message):
    __slots__ = ("interaction_id", "stored_at", "duplicate", "durability")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    stored_at: _timestamp_pb2.Timestamp
    duplicate: bool
    durability: Durability
    def __init__(self, interaction_id: _Optional[str] = ..., stored_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duplicate: _Optional[bool] = ..., durability: _Optional[_Union[Durability, str]] = ...) -> None: ...

class RejectedInteraction(_message.Message):
    __slots__ = ("index", "interaction_id", "field", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    interaction_id: str
    field: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., interaction_id: _Optional[str] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class IngestCounts(_message.Message):
    __slots__ = ("received", "stored", "spooled", "duplicates", "rejected")
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    SPOOLED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    received: int
    stored: int
    spooled: int
    duplicates: int
    rejected: int
    def __init__(self, received: _Optional[int] = ..., stored: _Optional[int] = ..., spooled: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...

class RecordInteractionRequest(_message.Message):
    __slots__ = ("interaction",)
    INTERACTION_FIELD_NUMBER: _ClassVar[int]
    interaction: Interaction
    def __init__(self, interaction: _Optional[_Union[Interaction, _Mapping]] = ...) -> None: ...

class StreamInteractionsRequest(_message.Message):
    __slots__ = ("interaction",)
    INTERACTION_FIELD_NUMBER: _ClassVar[int]
    interaction: Interaction
    def __init__(self, interaction: _Optional[_Union[Interaction, _Mapping]] = ...) -> None: ...

class RecordInteractionResponse(_message.Message):
    __slots__ = ("ack",)
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: InteractionAck
    def __init__(self, ack: _Optional[_Union[InteractionAck, _Mapping]] = ...) -> None: ...

class RecordInteractionsRequest(_message.Message):
    __slots__ = ("interactions",)
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    def __init__(self, interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ...) -> None: ...

class RecordInteractionsResponse(_message.Message):
    __slots__ = ("acks", "rejected", "counts")
    ACKS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[InteractionAck]
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedInteraction]
    counts: IngestCounts
    def __init__(self, acks: _Optional[_Iterable[_Union[InteractionAck, _Mapping]]] = ..., rejected: _Optional[_Iterable[_Union[RejectedInteraction, _Mapping]]] = ..., counts: _Optional[_Union[IngestCounts, _Mapping]] = ...) -> None: ...

class StreamInteractionsResponse(_message.Message):
    __slots__ = ("counts", "rejected", "last_interaction_id")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    LAST_INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    counts: IngestCounts
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedInteraction]
    last_interaction_id: str
    def __init__(self, counts: _Optional[_Union[IngestCounts, _Mapping]] = ..., rejected: _Optional[_Iterable[_Union[RejectedInteraction, _Mapping]]] = ..., last_interaction_id: _Optional[str] = ...) -> None: ...

class ImplicitFeedback(_message.Message):
    __slots__ = ("signal", "related_interaction_id")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    RELATED_INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    signal: ImplicitSignal
    related_interaction_id: str
    def __init__(self, signal: _Optional[_Union[ImplicitSignal, str]] = ..., related_interaction_id: _Optional[str] = ...) -> None: ...

class RecordFeedbackRequest(_message.Message):
    __slots__ = ("interaction_id", "feedback_id", "user_id", "thumb", "stars", "implicit", "comment", "occurred_at")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    THUMB_FIELD_NUMBER: _ClassVar[int]
    STARS_FIELD_NUMBER: _ClassVar[int]
    IMPLICIT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    feedback_id: str
    user_id: str
    thumb: Thumb
    stars: int
    implicit: ImplicitFeedback
    comment: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, interaction_id: _Optional[str] = ..., feedback_id: _Optional[str] = ..., user_id: _Optional[str] = ..., thumb: _Optional[_Union[Thumb, str]] = ..., stars: _Optional[int] = ..., implicit: _Optional[_Union[ImplicitFeedback, _Mapping]] = ..., comment: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordFeedbackResponse(_message.Message):
    __slots__ = ("feedback_id", "stored_at", "duplicate", "replaced_previous", "interaction_known", "durability")
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    REPLACED_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_KNOWN_FIELD_NUMBER: _ClassVar[int]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    feedback_id: str
    stored_at: _timestamp_pb2.Timestamp
    duplicate: bool
    replaced_previous: bool
    interaction_known: bool
    durability: Durability
    def __init__(self, feedback_id: _Optional[str] = ..., stored_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duplicate: _Optional[bool] = ..., replaced_previous: _Optional[bool] = ..., interaction_known: _Optional[bool] = ..., durability: _Optional[_Union[Durability, str]] = ...) -> None: ...

class RecommendRequest(_message.Message):
    __slots__ = ("user_id", "topic", "candidate_backends", "request_id", "greedy", "draws")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_BACKENDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GREEDY_FIELD_NUMBER: _ClassVar[int]
    DRAWS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    topic: str
    candidate_backends: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    greedy: bool
    draws: int
    def __init__(self, user_id: _Optional[str] = ..., topic: _Optional[str] = ..., candidate_backends: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., greedy: _Optional[bool] = ..., draws: _Optional[int] = ...) -> None: ...

class RankingDraw(_message.Message):
    __slots__ = ("backends", "exploratory")
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    EXPLORATORY_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedScalarFieldContainer[str]
    exploratory: bool
    def __init__(self, backends: _Optional[_Iterable[str]] = ..., exploratory: _Optional[bool] = ...) -> None: ...

class BackendRecommendation(_message.Message):
    __slots__ = ("backend", "rank", "score", "expected_success", "expected_latency", "expected_time_to_first_token", "confidence", "reason", "exploratory", "evidence", "basis")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LATENCY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLORATORY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    rank: int
    score: float
    expected_success: float
    expected_latency: _duration_pb2.Duration
    expected_time_to_first_token: _duration_pb2.Duration
    confidence: float
    reason: str
    exploratory: bool
    evidence: float
    basis: EstimateBasis
    def __init__(self, backend: _Optional[str] = ..., rank: _Optional[int] = ..., score: _Optional[float] = ..., expected_success: _Optional[float] = ..., expected_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., expected_time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., confidence: _Optional[float] = ..., reason: _Optional[str] = ..., exploratory: _Optional[bool] = ..., evidence: _Optional[float] = ..., basis: _Optional[_Union[EstimateBasis, str]] = ...) -> None: ...

class RecommendResponse(_message.Message):
    __slots__ = ("ranked", "exploratory", "topic", "model_updated_at", "draws")
    RANKED_FIELD_NUMBER: _ClassVar[int]
    EXPLORATORY_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    MODEL_UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DRAWS_FIELD_NUMBER: _ClassVar[int]
    ranked: _containers.RepeatedCompositeFieldContainer[BackendRecommendation]
    exploratory: bool
    topic: str
    model_updated_at: _timestamp_pb2.Timestamp
    draws: _containers.RepeatedCompositeFieldContainer[RankingDraw]
    def __init__(self, ranked: _Optional[_Iterable[_Union[BackendRecommendation, _Mapping]]] = ..., exploratory: _Optional[bool] = ..., topic: _Optional[str] = ..., model_updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., draws: _Optional[_Iterable[_Union[RankingDraw, _Mapping]]] = ...) -> None: ...

class TopicShare(_message.Message):
    __slots__ = ("topic", "count", "share")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    topic: str
    count: int
    share: float
    def __init__(self, topic: _Optional[str] = ..., count: _Optional[int] = ..., share: _Optional[float] = ...) -> None: ...

class CommunicationStyle(_message.Message):
    __slots__ = ("mean_prompt_chars", "mean_prompt_tokens", "mean_completion_tokens", "preferred_answer_length", "preferred_completion_tokens")
    MEAN_PROMPT_CHARS_FIELD_NUMBER: _ClassVar[int]
    MEAN_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MEAN_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_ANSWER_LENGTH_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    mean_prompt_chars: float
    mean_prompt_tokens: float
    mean_completion_tokens: float
    preferred_answer_length: AnswerLength
    preferred_completion_tokens: int
    def __init__(self, mean_prompt_chars: _Optional[float] = ..., mean_prompt_tokens: _Optional[float] = ..., mean_completion_tokens: _Optional[float] = ..., preferred_answer_length: _Optional[_Union[AnswerLength, str]] = ..., preferred_completion_tokens: _Optional[int] = ...) -> None: ...

class BackendPreference(_message.Message):
    __slots__ = ("backend", "topic", "success_rate", "satisfaction", "interaction_count")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    backend: str
    topic: str
    success_rate: float
    satisfaction: float
    interaction_count: int
    def __init__(self, backend: _Optional[str] = ..., topic: _Optional[str] = ..., success_rate: _Optional[float] = ..., satisfaction: _Optional[float] = ..., interaction_count: _Optional[int] = ...) -> None: ...

class Satisfaction(_message.Message):
    __slots__ = ("score", "rated_count", "thumbs_up", "thumbs_down", "mean_stars", "dissatisfaction_signals")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    THUMBS_UP_FIELD_NUMBER: _ClassVar[int]
    THUMBS_DOWN_FIELD_NUMBER: _ClassVar[int]
    MEAN_STARS_FIELD_NUMBER: _ClassVar[int]
    DISSATISFACTION_SIGNALS_FIELD_NUMBER: _ClassVar[int]
    score: float
    rated_count: int
    thumbs_up: int
    thumbs_down: int
    mean_stars: float
    dissatisfaction_signals: int
    def __init__(self, score: _Optional[float] = ..., rated_count: _Optional[int] = ..., thumbs_up: _Optional[int] = ..., thumbs_down: _Optional[int] = ..., mean_stars: _Optional[float] = ..., dissatisfaction_signals: _Optional[int] = ...) -> None: ...

class GetUserProfileRequest(_message.Message):
    __slots__ = ("user_id", "time_zone")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    time_zone: str
    def __init__(self, user_id: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class GetUserProfileResponse(_message.Message):
    __slots__ = ("user_id", "interaction_count", "topic_mix", "time_zone", "hour_histogram", "peak_hours", "style", "preferred_backends", "satisfaction", "personalisation_hint", "first_seen", "last_seen")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOPIC_MIX_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    HOUR_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    PEAK_HOURS_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_BACKENDS_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    PERSONALISATION_HINT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    interaction_count: int
    topic_mix: _containers.RepeatedCompositeFieldContainer[TopicShare]
    time_zone: str
    hour_histogram: _containers.RepeatedScalarFieldContainer[int]
    peak_hours: _containers.RepeatedScalarFieldContainer[int]
    style: CommunicationStyle
    preferred_backends: _containers.RepeatedCompositeFieldContainer[BackendPreference]
    satisfaction: Satisfaction
    personalisation_hint: str
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., interaction_count: _Optional[int] = ..., topic_mix: _Optional[_Iterable[_Union[TopicShare, _Mapping]]] = ..., time_zone: _Optional[str] = ..., hour_histogram: _Optional[_Iterable[int]] = ..., peak_hours: _Optional[_Iterable[int]] = ..., style: _Optional[_Union[CommunicationStyle, _Mapping]] = ..., preferred_backends: _Optional[_Iterable[_Union[BackendPreference, _Mapping]]] = ..., satisfaction: _Optional[_Union[Satisfaction, _Mapping]] = ..., personalisation_hint: _Optional[str] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LatencyStats(_message.Message):
    __slots__ = ("sample_count", "mean", "p50", "p90", "p95", "p99")
    SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    P50_FIELD_NUMBER: _ClassVar[int]
    P90_FIELD_NUMBER: _ClassVar[int]
    P95_FIELD_NUMBER: _ClassVar[int]
    P99_FIELD_NUMBER: _ClassVar[int]
    sample_count: int
    mean: _duration_pb2.Duration
    p50: _duration_pb2.Duration
    p90: _duration_pb2.Duration
    p95: _duration_pb2.Duration
    p99: _duration_pb2.Duration
    def __init__(self, sample_count: _Optional[int] = ..., mean: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p50: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p90: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p95: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p99: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class OutcomeCount(_message.Message):
    __slots__ = ("outcome", "count")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    count: int
    def __init__(self, outcome: _Optional[_Union[Outcome, str]] = ..., count: _Optional[int] = ...) -> None: ...

class InteractionStats(_message.Message):
    __slots__ = ("attempt_count", "success_count", "success_rate", "time_to_first_token", "total_time", "outcomes", "prompt_tokens", "completion_tokens", "cost_usd", "satisfaction")
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TIME_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    attempt_count: int
    success_count: int
    success_rate: float
    time_to_first_token: LatencyStats
    total_time: LatencyStats
    outcomes: _containers.RepeatedCompositeFieldContainer[OutcomeCount]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    satisfaction: Satisfaction
    def __init__(self, attempt_count: _Optional[int] = ..., success_count: _Optional[int] = ..., success_rate: _Optional[float] = ..., time_to_first_token: _Optional[_Union[LatencyStats, _Mapping]] = ..., total_time: _Optional[_Union[LatencyStats, _Mapping]] = ..., outcomes: _Optional[_Iterable[_Union[OutcomeCount, _Mapping]]] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., satisfaction: _Optional[_Union[Satisfaction, _Mapping]] = ...) -> None: ...

class Trend(_message.Message):
    __slots__ = ("direction", "success_rate_this_week", "success_rate_previous_week", "p50_total_time_this_week", "p50_total_time_previous_week")
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_THIS_WEEK_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_PREVIOUS_WEEK_FIELD_NUMBER: _ClassVar[int]
    P50_TOTAL_TIME_THIS_WEEK_FIELD_NUMBER: _ClassVar[int]
    P50_TOTAL_TIME_PREVIOUS_WEEK_FIELD_NUMBER: _ClassVar[int]
    direction: TrendDirection
    success_rate_this_week: float
    success_rate_previous_week: float
    p50_total_time_this_week: _duration_pb2.Duration
    p50_total_time_previous_week: _duration_pb2.Duration
    def __init__(self, direction: _Optional[_Union[TrendDirection, str]] = ..., success_rate_this_week: _Optional[float] = ..., success_rate_previous_week: _Optional[float] = ..., p50_total_time_this_week: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p50_total_time_previous_week: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class BackendTopicInsight(_message.Message):
    __slots__ = ("backend", "topic", "stats", "trend")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    backend: str
    topic: str
    stats: InteractionStats
    trend: Trend
    def __init__(self, backend: _Optional[str] = ..., topic: _Optional[str] = ..., stats: _Optional[_Union[InteractionStats, _Mapping]] = ..., trend: _Optional[_Union[Trend, _Mapping]] = ...) -> None: ...

class Anomaly(_message.Message):
    __slots__ = ("kind", "backend", "topic", "started_at", "detected_at", "ended_at", "baseline_value", "observed_value", "description")
    KIND_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DETECTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_VALUE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    kind: AnomalyKind
    backend: str
    topic: str
    started_at: _timestamp_pb2.Timestamp
    detected_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    baseline_value: float
    observed_value: float
    description: str
    def __init__(self, kind: _Optional[_Union[AnomalyKind, str]] = ..., backend: _Optional[str] = ..., topic: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., baseline_value: _Optional[float] = ..., observed_value: _Optional[float] = ..., description: _Optional[str] = ...) -> None: ...

class GetInsightsRequest(_message.Message):
    __slots__ = ("window", "since", "until", "topic", "backend", "tenant", "time_zone")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    window: _duration_pb2.Duration
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    topic: str
    backend: str
    tenant: str
    time_zone: str
    def __init__(self, window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., topic: _Optional[str] = ..., backend: _Optional[str] = ..., tenant: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class GetInsightsResponse(_message.Message):
    __slots__ = ("window_start", "window_end", "overall", "cells", "time_zone", "hour_histogram", "peak_hours", "overall_trend", "anomalies", "time_saved", "topic_mix")
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    OVERALL_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    HOUR_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    PEAK_HOURS_FIELD_NUMBER: _ClassVar[int]
    OVERALL_TREND_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    TIME_SAVED_FIELD_NUMBER: _ClassVar[int]
    TOPIC_MIX_FIELD_NUMBER: _ClassVar[int]
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    overall: InteractionStats
    cells: _containers.RepeatedCompositeFieldContainer[BackendTopicInsight]
    time_zone: str
    hour_histogram: _containers.RepeatedScalarFieldContainer[int]
    peak_hours: _containers.RepeatedScalarFieldContainer[int]
    overall_trend: Trend
    anomalies: _containers.RepeatedCompositeFieldContainer[Anomaly]
    time_saved: _duration_pb2.Duration
    topic_mix: _containers.RepeatedCompositeFieldContainer[TopicShare]
    def __init__(self, window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overall: _Optional[_Union[InteractionStats, _Mapping]] = ..., cells: _Optional[_Iterable[_Union[BackendTopicInsight, _Mapping]]] = ..., time_zone: _Optional[str] = ..., hour_histogram: _Optional[_Iterable[int]] = ..., peak_hours: _Optional[_Iterable[int]] = ..., overall_trend: _Optional[_Union[Trend, _Mapping]] = ..., anomalies: _Optional[_Iterable[_Union[Anomaly, _Mapping]]] = ..., time_saved: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., topic_mix: _Optional[_Iterable[_Union[TopicShare, _Mapping]]] = ...) -> None: ...

class TopicTimeSaved(_message.Message):
    __slots__ = ("topic", "successful_requests", "time_saved")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    SUCCESSFUL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TIME_SAVED_FIELD_NUMBER: _ClassVar[int]
    topic: str
    successful_requests: int
    time_saved: _duration_pb2.Duration
    def __init__(self, topic: _Optional[str] = ..., successful_requests: _Optional[int] = ..., time_saved: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetTimeSavedRequest(_message.Message):
    __slots__ = ("user_id", "window", "since", "until", "tenant")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    window: _duration_pb2.Duration
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    tenant: str
    def __init__(self, user_id: _Optional[str] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant: _Optional[str] = ...) -> None: ...

class GetTimeSavedResponse(_message.Message):
    __slots__ = ("user_id", "window_start", "window_end", "time_saved", "request_count", "successful_requests", "time_waiting", "by_topic")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    TIME_SAVED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUCCESSFUL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TIME_WAITING_FIELD_NUMBER: _ClassVar[int]
    BY_TOPIC_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    time_saved: _duration_pb2.Duration
    request_count: int
    successful_requests: int
    time_waiting: _duration_pb2.Duration
    by_topic: _containers.RepeatedCompositeFieldContainer[TopicTimeSaved]
    def __init__(self, user_id: _Optional[str] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_saved: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_count: _Optional[int] = ..., successful_requests: _Optional[int] = ..., time_waiting: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., by_topic: _Optional[_Iterable[_Union[TopicTimeSaved, _Mapping]]] = ...) -> None: ...

class ForgetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ForgetUserResponse(_message.Message):
    __slots__ = ("user_id", "interactions_deleted", "feedback_deleted", "model_cells_deleted", "profile_records_deleted", "forgotten_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_DELETED_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_DELETED_FIELD_NUMBER: _ClassVar[int]
    MODEL_CELLS_DELETED_FIELD_NUMBER: _ClassVar[int]
    PROFILE_RECORDS_DELETED_FIELD_NUMBER: _ClassVar[int]
    FORGOTTEN_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    interactions_deleted: int
    feedback_deleted: int
    model_cells_deleted: int
    profile_records_deleted: int
    forgotten_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., interactions_deleted: _Optional[int] = ..., feedback_deleted: _Optional[int] = ..., model_cells_deleted: _Optional[int] = ..., profile_records_deleted: _Optional[int] = ..., forgotten_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
