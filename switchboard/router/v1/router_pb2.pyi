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

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_SYSTEM: _ClassVar[Role]
    ROLE_USER: _ClassVar[Role]
    ROLE_ASSISTANT: _ClassVar[Role]

class CachePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_POLICY_UNSPECIFIED: _ClassVar[CachePolicy]
    CACHE_POLICY_BYPASS: _ClassVar[CachePolicy]
    CACHE_POLICY_PREFER: _ClassVar[CachePolicy]

class FinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINISH_REASON_UNSPECIFIED: _ClassVar[FinishReason]
    FINISH_REASON_STOP: _ClassVar[FinishReason]
    FINISH_REASON_LENGTH: _ClassVar[FinishReason]
    FINISH_REASON_CONTENT_FILTER: _ClassVar[FinishReason]
    FINISH_REASON_DEGRADED: _ClassVar[FinishReason]

class AttemptOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTEMPT_OUTCOME_UNSPECIFIED: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_SUCCESS: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_CONNECTION_ERROR: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_SERVER_ERROR: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_RATE_LIMITED: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_TIMEOUT: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_MALFORMED_STREAM: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_SKIPPED: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_CANCELLED: _ClassVar[AttemptOutcome]
    ATTEMPT_OUTCOME_CLIENT_ERROR: _ClassVar[AttemptOutcome]

class BackendKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKEND_KIND_UNSPECIFIED: _ClassVar[BackendKind]
    BACKEND_KIND_OPENAI: _ClassVar[BackendKind]
    BACKEND_KIND_OLLAMA: _ClassVar[BackendKind]
    BACKEND_KIND_ANTHROPIC: _ClassVar[BackendKind]
    BACKEND_KIND_MOCK: _ClassVar[BackendKind]

class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_STATE_UNSPECIFIED: _ClassVar[BreakerState]
    BREAKER_STATE_CLOSED: _ClassVar[BreakerState]
    BREAKER_STATE_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_HALF_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_FORCED_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_DISABLED: _ClassVar[BreakerState]

class BackendHealth(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKEND_HEALTH_UNSPECIFIED: _ClassVar[BackendHealth]
    BACKEND_HEALTH_HEALTHY: _ClassVar[BackendHealth]
    BACKEND_HEALTH_UNHEALTHY: _ClassVar[BackendHealth]

class BreakerCommand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_COMMAND_UNSPECIFIED: _ClassVar[BreakerCommand]
    BREAKER_COMMAND_FORCE_OPEN: _ClassVar[BreakerCommand]
    BREAKER_COMMAND_DISABLE: _ClassVar[BreakerCommand]
    BREAKER_COMMAND_RESET: _ClassVar[BreakerCommand]
ROLE_UNSPECIFIED: Role
ROLE_SYSTEM: Role
ROLE_USER: Role
ROLE_ASSISTANT: Role
CACHE_POLICY_UNSPECIFIED: CachePolicy
CACHE_POLICY_BYPASS: CachePolicy
CACHE_POLICY_PREFER: CachePolicy
FINISH_REASON_UNSPECIFIED: FinishReason
FINISH_REASON_STOP: FinishReason
FINISH_REASON_LENGTH: FinishReason
FINISH_REASON_CONTENT_FILTER: FinishReason
FINISH_REASON_DEGRADED: FinishReason
ATTEMPT_OUTCOME_UNSPECIFIED: AttemptOutcome
ATTEMPT_OUTCOME_SUCCESS: AttemptOutcome
ATTEMPT_OUTCOME_CONNECTION_ERROR: AttemptOutcome
ATTEMPT_OUTCOME_SERVER_ERROR: AttemptOutcome
ATTEMPT_OUTCOME_RATE_LIMITED: AttemptOutcome
ATTEMPT_OUTCOME_TIMEOUT: AttemptOutcome
ATTEMPT_OUTCOME_MALFORMED_STREAM: AttemptOutcome
ATTEMPT_OUTCOME_SKIPPED: AttemptOutcome
ATTEMPT_OUTCOME_CANCELLED: AttemptOutcome
ATTEMPT_OUTCOME_CLIENT_ERROR: AttemptOutcome
BACKEND_KIND_UNSPECIFIED: BackendKind
BACKEND_KIND_OPENAI: BackendKind
BACKEND_KIND_OLLAMA: BackendKind
BACKEND_KIND_ANTHROPIC: BackendKind
BACKEND_KIND_MOCK: BackendKind
BREAKER_STATE_UNSPECIFIED: BreakerState
BREAKER_STATE_CLOSED: BreakerState
BREAKER_STATE_OPEN: BreakerState
BREAKER_STATE_HALF_OPEN: BreakerState
BREAKER_STATE_FORCED_OPEN: BreakerState
BREAKER_STATE_DISABLED: BreakerState
BACKEND_HEALTH_UNSPECIFIED: BackendHealth
BACKEND_HEALTH_HEALTHY: BackendHealth
BACKEND_HEALTH_UNHEALTHY: BackendHealth
BREAKER_COMMAND_UNSPECIFIED: BreakerCommand
BREAKER_COMMAND_FORCE_OPEN: BreakerCommand
BREAKER_COMMAND_DISABLE: BreakerCommand
BREAKER_COMMAND_RESET: BreakerCommand

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: Role
    content: str
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., content: _Optional[str] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("messages", "prompt", "system_prompt", "user_id", "topic", "max_tokens", "temperature", "pinned_backend", "request_id", "cache_policy")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    PINNED_BACKEND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_POLICY_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    prompt: str
    system_prompt: str
    user_id: str
    topic: str
    max_tokens: int
    temperature: float
    pinned_backend: str
    request_id: str
    cache_policy: CachePolicy
    def __init__(self, messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., prompt: _Optional[str] = ..., system_prompt: _Optional[str] = ..., user_id: _Optional[str] = ..., topic: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., pinned_backend: _Optional[str] = ..., request_id: _Optional[str] = ..., cache_policy: _Optional[_Union[CachePolicy, str]] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("messages", "prompt", "system_prompt", "user_id", "topic", "max_tokens", "temperature", "pinned_backend", "request_id", "cache_policy")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    PINNED_BACKEND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_POLICY_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    prompt: str
    system_prompt: str
    user_id: str
    topic: str
    max_tokens: int
    temperature: float
    pinned_backend: str
    request_id: str
    cache_policy: CachePolicy
    def __init__(self, messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., prompt: _Optional[str] = ..., system_prompt: _Optional[str] = ..., user_id: _Optional[str] = ..., topic: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., pinned_backend: _Optional[str] = ..., request_id: _Optional[str] = ..., cache_policy: _Optional[_Union[CachePolicy, str]] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("start", "token", "backend_switch", "done", "error")
    START_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    BACKEND_SWITCH_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    start: StartEvent
    token: TokenEvent
    backend_switch: BackendSwitchEvent
    done: DoneEvent
    error: ErrorEvent
    def __init__(self, start: _Optional[_Union[StartEvent, _Mapping]] = ..., token: _Optional[_Union[TokenEvent, _Mapping]] = ..., backend_switch: _Optional[_Union[BackendSwitchEvent, _Mapping]] = ..., done: _Optional[_Union[DoneEvent, _Mapping]] = ..., error: _Optional[_Union[ErrorEvent, _Mapping]] = ...) -> None: ...

class StartEvent(_message.Message):
    __slots__ = ("request_id", "backend", "model", "topic", "topic_classified", "cache_hit", "mock", "routing_reason", "degraded", "degraded_reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    TOPIC_CLASSIFIED_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    MOCK_FIELD_NUMBER: _ClassVar[int]
    ROUTING_REASON_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    backend: str
    model: str
    topic: str
    topic_classified: bool
    cache_hit: bool
    mock: bool
    routing_reason: str
    degraded: bool
    degraded_reason: str
    def __init__(self, request_id: _Optional[str] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., topic: _Optional[str] = ..., topic_classified: _Optional[bool] = ..., cache_hit: _Optional[bool] = ..., mock: _Optional[bool] = ..., routing_reason: _Optional[str] = ..., degraded: _Optional[bool] = ..., degraded_reason: _Optional[str] = ...) -> None: ...

class TokenEvent(_message.Message):
    __slots__ = ("text", "backend")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    text: str
    backend: str
    def __init__(self, text: _Optional[str] = ..., backend: _Optional[str] = ...) -> None: ...

class BackendSwitchEvent(_message.Message):
    __slots__ = ("from_backend", "to_backend", "reason", "chars_before_switch", "continuation")
    FROM_BACKEND_FIELD_NUMBER: _ClassVar[int]
    TO_BACKEND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHARS_BEFORE_SWITCH_FIELD_NUMBER: _ClassVar[int]
    CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    from_backend: str
    to_backend: str
    reason: str
    chars_before_switch: int
    continuation: bool
    def __init__(self, from_backend: _Optional[str] = ..., to_backend: _Optional[str] = ..., reason: _Optional[str] = ..., chars_before_switch: _Optional[int] = ..., continuation: _Optional[bool] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("backend", "model", "outcome", "detail", "time_to_first_token", "duration", "completion_tokens")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    outcome: AttemptOutcome
    detail: str
    time_to_first_token: _duration_pb2.Duration
    duration: _duration_pb2.Duration
    completion_tokens: int
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., outcome: _Optional[_Union[AttemptOutcome, str]] = ..., detail: _Optional[str] = ..., time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "estimated")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., estimated: _Optional[bool] = ...) -> None: ...

class DoneEvent(_message.Message):
    __slots__ = ("finish_reason", "usage", "time_to_first_token", "total_time", "upstream_time", "overhead", "attempts", "backend", "interaction_id", "degraded", "degraded_reason", "cost_usd")
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TIME_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_TIME_FIELD_NUMBER: _ClassVar[int]
    OVERHEAD_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    finish_reason: FinishReason
    usage: Usage
    time_to_first_token: _duration_pb2.Duration
    total_time: _duration_pb2.Duration
    upstream_time: _duration_pb2.Duration
    overhead: _duration_pb2.Duration
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    backend: str
    interaction_id: str
    degraded: bool
    degraded_reason: str
    cost_usd: float
    def __init__(self, finish_reason: _Optional[_Union[FinishReason, str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., total_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., upstream_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., overhead: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., backend: _Optional[str] = ..., interaction_id: _Optional[str] = ..., degraded: _Optional[bool] = ..., degraded_reason: _Optional[str] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class ErrorEvent(_message.Message):
    __slots__ = ("code", "message", "chars_sent", "attempts")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHARS_SENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    chars_sent: int
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., chars_sent: _Optional[int] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("request_id", "text", "backend", "model", "topic", "cache_hit", "mock", "done", "switches")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    MOCK_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    SWITCHES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    text: str
    backend: str
    model: str
    topic: str
    cache_hit: bool
    mock: bool
    done: DoneEvent
    switches: _containers.RepeatedCompositeFieldContainer[BackendSwitchEvent]
    def __init__(self, request_id: _Optional[str] = ..., text: _Optional[str] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., topic: _Optional[str] = ..., cache_hit: _Optional[bool] = ..., mock: _Optional[bool] = ..., done: _Optional[_Union[DoneEvent, _Mapping]] = ..., switches: _Optional[_Iterable[_Union[BackendSwitchEvent, _Mapping]]] = ...) -> None: ...

class ListBackendsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LatencyPercentiles(_message.Message):
    __slots__ = ("p50", "p95", "p99")
    P50_FIELD_NUMBER: _ClassVar[int]
    P95_FIELD_NUMBER: _ClassVar[int]
    P99_FIELD_NUMBER: _ClassVar[int]
    p50: _duration_pb2.Duration
    p95: _duration_pb2.Duration
    p99: _duration_pb2.Duration
    def __init__(self, p50: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p95: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p99: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class BackendInfo(_message.Message):
    __slots__ = ("name", "kind", "model", "base_url", "priority", "mock", "breaker_state", "health", "success_rate", "window_calls", "time_to_first_token", "total_time", "in_flight", "cost_per_1k_prompt_tokens", "cost_per_1k_completion_tokens", "supports_continuation", "breaker_since")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MOCK_FIELD_NUMBER: _ClassVar[int]
    BREAKER_STATE_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_CALLS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TIME_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    COST_PER_1K_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_PER_1K_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    BREAKER_SINCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: BackendKind
    model: str
    base_url: str
    priority: int
    mock: bool
    breaker_state: BreakerState
    health: BackendHealth
    success_rate: float
    window_calls: int
    time_to_first_token: LatencyPercentiles
    total_time: LatencyPercentiles
    in_flight: int
    cost_per_1k_prompt_tokens: float
    cost_per_1k_completion_tokens: float
    supports_continuation: bool
    breaker_since: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[BackendKind, str]] = ..., model: _Optional[str] = ..., base_url: _Optional[str] = ..., priority: _Optional[int] = ..., mock: _Optional[bool] = ..., breaker_state: _Optional[_Union[BreakerState, str]] = ..., health: _Optional[_Union[BackendHealth, str]] = ..., success_rate: _Optional[float] = ..., window_calls: _Optional[int] = ..., time_to_first_token: _Optional[_Union[LatencyPercentiles, _Mapping]] = ..., total_time: _Optional[_Union[LatencyPercentiles, _Mapping]] = ..., in_flight: _Optional[int] = ..., cost_per_1k_prompt_tokens: _Optional[float] = ..., cost_per_1k_completion_tokens: _Optional[float] = ..., supports_continuation: _Optional[bool] = ..., breaker_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListBackendsResponse(_message.Message):
    __slots__ = ("backends",)
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[BackendInfo]
    def __init__(self, backends: _Optional[_Iterable[_Union[BackendInfo, _Mapping]]] = ...) -> None: ...

class SetBreakerStateRequest(_message.Message):
    __slots__ = ("backend", "command")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    backend: str
    command: BreakerCommand
    def __init__(self, backend: _Optional[str] = ..., command: _Optional[_Union[BreakerCommand, str]] = ...) -> None: ...

class SetBreakerStateResponse(_message.Message):
    __slots__ = ("backend",)
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    backend: BackendInfo
    def __init__(self, backend: _Optional[_Union[BackendInfo, _Mapping]] = ...) -> None: ...
