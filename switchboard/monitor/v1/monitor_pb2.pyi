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

class TargetKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TARGET_KIND_UNSPECIFIED: _ClassVar[TargetKind]
    TARGET_KIND_SERVICE: _ClassVar[TargetKind]
    TARGET_KIND_BACKEND: _ClassVar[TargetKind]
    TARGET_KIND_DATABASE: _ClassVar[TargetKind]
    TARGET_KIND_CACHE_STORE: _ClassVar[TargetKind]
    TARGET_KIND_SYSTEM: _ClassVar[TargetKind]

class TargetStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TARGET_STATUS_UNSPECIFIED: _ClassVar[TargetStatus]
    TARGET_STATUS_HEALTHY: _ClassVar[TargetStatus]
    TARGET_STATUS_DEGRADED: _ClassVar[TargetStatus]
    TARGET_STATUS_UNHEALTHY: _ClassVar[TargetStatus]
    TARGET_STATUS_UNREACHABLE: _ClassVar[TargetStatus]
    TARGET_STATUS_NOT_AVAILABLE: _ClassVar[TargetStatus]

class ServingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVING_STATUS_UNSPECIFIED: _ClassVar[ServingStatus]
    SERVING_STATUS_SERVING: _ClassVar[ServingStatus]
    SERVING_STATUS_NOT_SERVING: _ClassVar[ServingStatus]
    SERVING_STATUS_SERVICE_UNKNOWN: _ClassVar[ServingStatus]

class Trend(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TREND_UNSPECIFIED: _ClassVar[Trend]
    TREND_IMPROVING: _ClassVar[Trend]
    TREND_STABLE: _ClassVar[Trend]
    TREND_DEGRADING: _ClassVar[Trend]

class AlertSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_SEVERITY_UNSPECIFIED: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_INFO: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_WARNING: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_CRITICAL: _ClassVar[AlertSeverity]

class AlertKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_KIND_UNSPECIFIED: _ClassVar[AlertKind]
    ALERT_KIND_TRANSITION: _ClassVar[AlertKind]
    ALERT_KIND_RESTART: _ClassVar[AlertKind]
    ALERT_KIND_ANOMALY: _ClassVar[AlertKind]
    ALERT_KIND_RESTART_BUDGET_EXHAUSTED: _ClassVar[AlertKind]

class RestartReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESTART_REASON_UNSPECIFIED: _ClassVar[RestartReason]
    RESTART_REASON_PROCESS_EXITED: _ClassVar[RestartReason]
    RESTART_REASON_NOT_SERVING: _ClassVar[RestartReason]
    RESTART_REASON_UNREACHABLE: _ClassVar[RestartReason]
TARGET_KIND_UNSPECIFIED: TargetKind
TARGET_KIND_SERVICE: TargetKind
TARGET_KIND_BACKEND: TargetKind
TARGET_KIND_DATABASE: TargetKind
TARGET_KIND_CACHE_STORE: TargetKind
TARGET_KIND_SYSTEM: TargetKind
TARGET_STATUS_UNSPECIFIED: TargetStatus
TARGET_STATUS_HEALTHY: TargetStatus
TARGET_STATUS_DEGRADED: TargetStatus
TARGET_STATUS_UNHEALTHY: TargetStatus
TARGET_STATUS_UNREACHABLE: TargetStatus
TARGET_STATUS_NOT_AVAILABLE: TargetStatus
SERVING_STATUS_UNSPECIFIED: ServingStatus
SERVING_STATUS_SERVING: ServingStatus
SERVING_STATUS_NOT_SERVING: ServingStatus
SERVING_STATUS_SERVICE_UNKNOWN: ServingStatus
TREND_UNSPECIFIED: Trend
TREND_IMPROVING: Trend
TREND_STABLE: Trend
TREND_DEGRADING: Trend
ALERT_SEVERITY_UNSPECIFIED: AlertSeverity
ALERT_SEVERITY_INFO: AlertSeverity
ALERT_SEVERITY_WARNING: AlertSeverity
ALERT_SEVERITY_CRITICAL: AlertSeverity
ALERT_KIND_UNSPECIFIED: AlertKind
ALERT_KIND_TRANSITION: AlertKind
ALERT_KIND_RESTART: AlertKind
ALERT_KIND_ANOMALY: AlertKind
ALERT_KIND_RESTART_BUDGET_EXHAUSTED: AlertKind
RESTART_REASON_UNSPECIFIED: RestartReason
RESTART_REASON_PROCESS_EXITED: RestartReason
RESTART_REASON_NOT_SERVING: RestartReason
RESTART_REASON_UNREACHABLE: RestartReason

class TargetState(_message.Message):
    __slots__ = ("target", "kind", "status", "since", "probe_latency", "consecutive_failures", "uptime_ratio", "uptime_window", "latency_baseline", "latency_anomaly", "trend", "serving_statuses", "detail", "last_probe_at", "endpoint")
    class ServingStatusesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ServingStatus
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ServingStatus, str]] = ...) -> None: ...
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    PROBE_LATENCY_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_RATIO_FIELD_NUMBER: _ClassVar[int]
    UPTIME_WINDOW_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BASELINE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_ANOMALY_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    SERVING_STATUSES_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LAST_PROBE_AT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    target: str
    kind: TargetKind
    status: TargetStatus
    since: _timestamp_pb2.Timestamp
    probe_latency: _duration_pb2.Duration
    consecutive_failures: int
    uptime_ratio: float
    uptime_window: _duration_pb2.Duration
    latency_baseline: LatencyBaseline
    latency_anomaly: bool
    trend: Trend
    serving_statuses: _containers.ScalarMap[str, ServingStatus]
    detail: str
    last_probe_at: _timestamp_pb2.Timestamp
    endpoint: str
    def __init__(self, target: _Optional[str] = ..., kind: _Optional[_Union[TargetKind, str]] = ..., status: _Optional[_Union[TargetStatus, str]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., probe_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., consecutive_failures: _Optional[int] = ..., uptime_ratio: _Optional[float] = ..., uptime_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., latency_baseline: _Optional[_Union[LatencyBaseline, _Mapping]] = ..., latency_anomaly: _Optional[bool] = ..., trend: _Optional[_Union[Trend, str]] = ..., serving_statuses: _Optional[_Mapping[str, ServingStatus]] = ..., detail: _Optional[str] = ..., last_probe_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., endpoint: _Optional[str] = ...) -> None: ...

class LatencyBaseline(_message.Message):
    __slots__ = ("mean", "stddev", "sample_count")
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STDDEV_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    mean: _duration_pb2.Duration
    stddev: _duration_pb2.Duration
    sample_count: int
    def __init__(self, mean: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., stddev: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., sample_count: _Optional[int] = ...) -> None: ...

class SystemMetrics(_message.Message):
    __slots__ = ("collected_at", "cpu_percent", "cpu_count", "memory_used_bytes", "memory_total_bytes", "disk_path", "disk_used_bytes", "disk_total_bytes", "gpu_available", "gpu_unavailable_reason", "gpus", "processes")
    COLLECTED_AT_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_PATH_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPU_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    GPU_UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    collected_at: _timestamp_pb2.Timestamp
    cpu_percent: float
    cpu_count: int
    memory_used_bytes: int
    memory_total_bytes: int
    disk_path: str
    disk_used_bytes: int
    disk_total_bytes: int
    gpu_available: bool
    gpu_unavailable_reason: str
    gpus: _containers.RepeatedCompositeFieldContainer[GpuMetrics]
    processes: _containers.RepeatedCompositeFieldContainer[ProcessMetrics]
    def __init__(self, collected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cpu_percent: _Optional[float] = ..., cpu_count: _Optional[int] = ..., memory_used_bytes: _Optional[int] = ..., memory_total_bytes: _Optional[int] = ..., disk_path: _Optional[str] = ..., disk_used_bytes: _Optional[int] = ..., disk_total_bytes: _Optional[int] = ..., gpu_available: _Optional[bool] = ..., gpu_unavailable_reason: _Optional[str] = ..., gpus: _Optional[_Iterable[_Union[GpuMetrics, _Mapping]]] = ..., processes: _Optional[_Iterable[_Union[ProcessMetrics, _Mapping]]] = ...) -> None: ...

class GpuMetrics(_message.Message):
    __slots__ = ("index", "name", "utilization_percent", "memory_used_bytes", "memory_total_bytes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    utilization_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., utilization_percent: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ..., memory_total_bytes: _Optional[int] = ...) -> None: ...

class ProcessMetrics(_message.Message):
    __slots__ = ("service", "pid", "cpu_percent", "rss_bytes", "restarts", "started_at")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    service: str
    pid: int
    cpu_percent: float
    rss_bytes: int
    restarts: int
    started_at: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., pid: _Optional[int] = ..., cpu_percent: _Optional[float] = ..., rss_bytes: _Optional[int] = ..., restarts: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("kinds",)
    KINDS_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[TargetKind]
    def __init__(self, kinds: _Optional[_Iterable[_Union[TargetKind, str]]] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("targets", "system", "overall_status", "generated_at")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    OVERALL_STATUS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[TargetState]
    system: SystemMetrics
    overall_status: TargetStatus
    generated_at: _timestamp_pb2.Timestamp
    def __init__(self, targets: _Optional[_Iterable[_Union[TargetState, _Mapping]]] = ..., system: _Optional[_Union[SystemMetrics, _Mapping]] = ..., overall_status: _Optional[_Union[TargetStatus, str]] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchStatusRequest(_message.Message):
    __slots__ = ("targets", "kinds", "heartbeat_interval")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedScalarFieldContainer[str]
    kinds: _containers.RepeatedScalarFieldContainer[TargetKind]
    heartbeat_interval: _duration_pb2.Duration
    def __init__(self, targets: _Optional[_Iterable[str]] = ..., kinds: _Optional[_Iterable[_Union[TargetKind, str]]] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WatchStatusResponse(_message.Message):
    __slots__ = ("snapshot", "transition", "heartbeat")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    snapshot: StatusSnapshot
    transition: StatusTransition
    heartbeat: Heartbeat
    def __init__(self, snapshot: _Optional[_Union[StatusSnapshot, _Mapping]] = ..., transition: _Optional[_Union[StatusTransition, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class StatusSnapshot(_message.Message):
    __slots__ = ("targets", "system", "overall_status", "generated_at")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    OVERALL_STATUS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[TargetState]
    system: SystemMetrics
    overall_status: TargetStatus
    generated_at: _timestamp_pb2.Timestamp
    def __init__(self, targets: _Optional[_Iterable[_Union[TargetState, _Mapping]]] = ..., system: _Optional[_Union[SystemMetrics, _Mapping]] = ..., overall_status: _Optional[_Union[TargetStatus, str]] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StatusTransition(_message.Message):
    __slots__ = ("target", "kind", "from_status", "to_status", "at", "reason", "state", "overall_status")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OVERALL_STATUS_FIELD_NUMBER: _ClassVar[int]
    target: str
    kind: TargetKind
    from_status: TargetStatus
    to_status: TargetStatus
    at: _timestamp_pb2.Timestamp
    reason: str
    state: TargetState
    overall_status: TargetStatus
    def __init__(self, target: _Optional[str] = ..., kind: _Optional[_Union[TargetKind, str]] = ..., from_status: _Optional[_Union[TargetStatus, str]] = ..., to_status: _Optional[_Union[TargetStatus, str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., state: _Optional[_Union[TargetState, _Mapping]] = ..., overall_status: _Optional[_Union[TargetStatus, str]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("at",)
    AT_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("target", "window", "limit")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    target: str
    window: _duration_pb2.Duration
    limit: int
    def __init__(self, target: _Optional[str] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class GetHistoryResponse(_message.Message):
    __slots__ = ("target", "samples", "uptime_ratio", "truncated")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_RATIO_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    target: str
    samples: _containers.RepeatedCompositeFieldContainer[HistorySample]
    uptime_ratio: float
    truncated: bool
    def __init__(self, target: _Optional[str] = ..., samples: _Optional[_Iterable[_Union[HistorySample, _Mapping]]] = ..., uptime_ratio: _Optional[float] = ..., truncated: _Optional[bool] = ...) -> None: ...

class HistorySample(_message.Message):
    __slots__ = ("at", "status", "latency", "detail")
    AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    status: TargetStatus
    latency: _duration_pb2.Duration
    detail: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[TargetStatus, str]] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("id", "target", "severity", "kind", "title", "message", "created_at", "last_seen_at", "occurrences", "from_status", "to_status", "acknowledged", "acknowledged_by", "acknowledged_at", "acknowledgement_note", "deliveries")
    ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGEMENT_NOTE_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    target: str
    severity: AlertSeverity
    kind: AlertKind
    title: str
    message: str
    created_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    occurrences: int
    from_status: TargetStatus
    to_status: TargetStatus
    acknowledged: bool
    acknowledged_by: str
    acknowledged_at: _timestamp_pb2.Timestamp
    acknowledgement_note: str
    deliveries: _containers.RepeatedCompositeFieldContainer[AlertDelivery]
    def __init__(self, id: _Optional[str] = ..., target: _Optional[str] = ..., severity: _Optional[_Union[AlertSeverity, str]] = ..., kind: _Optional[_Union[AlertKind, str]] = ..., title: _Optional[str] = ..., message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., occurrences: _Optional[int] = ..., from_status: _Optional[_Union[TargetStatus, str]] = ..., to_status: _Optional[_Union[TargetStatus, str]] = ..., acknowledged: _Optional[bool] = ..., acknowledged_by: _Optional[str] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledgement_note: _Optional[str] = ..., deliveries: _Optional[_Iterable[_Union[AlertDelivery, _Mapping]]] = ...) -> None: ...

class AlertDelivery(_message.Message):
    __slots__ = ("sink", "delivered", "attempts", "last_error", "last_attempt_at", "delivered_at")
    SINK_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    sink: str
    delivered: bool
    attempts: int
    last_error: str
    last_attempt_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    def __init__(self, sink: _Optional[str] = ..., delivered: _Optional[bool] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., last_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("unacknowledged_only", "min_severity", "since", "target", "page_size", "page_token")
    UNACKNOWLEDGED_ONLY_FIELD_NUMBER: _ClassVar[int]
    MIN_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    unacknowledged_only: bool
    min_severity: AlertSeverity
    since: _timestamp_pb2.Timestamp
    target: str
    page_size: int
    page_token: str
    def __init__(self, unacknowledged_only: _Optional[bool] = ..., min_severity: _Optional[_Union[AlertSeverity, str]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., target: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id", "acknowledged_by", "note")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    acknowledged_by: str
    note: str
    def __init__(self, alert_id: _Optional[str] = ..., acknowledged_by: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class BackendHealth(_message.Message):
    __slots__ = ("backend", "status", "since", "probe_latency", "consecutive_failures", "detail")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    PROBE_LATENCY_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    backend: str
    status: TargetStatus
    since: _timestamp_pb2.Timestamp
    probe_latency: _duration_pb2.Duration
    consecutive_failures: int
    detail: str
    def __init__(self, backend: _Optional[str] = ..., status: _Optional[_Union[TargetStatus, str]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., probe_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., consecutive_failures: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class GetBackendHealthRequest(_message.Message):
    __slots__ = ("backends",)
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, backends: _Optional[_Iterable[str]] = ...) -> None: ...

class GetBackendHealthResponse(_message.Message):
    __slots__ = ("backends", "generated_at", "stale_after")
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    STALE_AFTER_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[BackendHealth]
    generated_at: _timestamp_pb2.Timestamp
    stale_after: _duration_pb2.Duration
    def __init__(self, backends: _Optional[_Iterable[_Union[BackendHealth, _Mapping]]] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WatchBackendHealthRequest(_message.Message):
    __slots__ = ("backends", "heartbeat_interval")
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedScalarFieldContainer[str]
    heartbeat_interval: _duration_pb2.Duration
    def __init__(self, backends: _Optional[_Iterable[str]] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WatchBackendHealthResponse(_message.Message):
    __slots__ = ("backends", "changed", "generated_at", "stale_after")
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    STALE_AFTER_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[BackendHealth]
    changed: _containers.RepeatedScalarFieldContainer[str]
    generated_at: _timestamp_pb2.Timestamp
    stale_after: _duration_pb2.Duration
    def __init__(self, backends: _Optional[_Iterable[_Union[BackendHealth, _Mapping]]] = ..., changed: _Optional[_Iterable[str]] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ReportRestartRequest(_message.Message):
    __slots__ = ("service", "pid", "previous_pid", "reason", "detail", "attempt", "backoff", "restarted_at", "budget_exhausted")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_FIELD_NUMBER: _ClassVar[int]
    RESTARTED_AT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    service: str
    pid: int
    previous_pid: int
    reason: RestartReason
    detail: str
    attempt: int
    backoff: _duration_pb2.Duration
    restarted_at: _timestamp_pb2.Timestamp
    budget_exhausted: bool
    def __init__(self, service: _Optional[str] = ..., pid: _Optional[int] = ..., previous_pid: _Optional[int] = ..., reason: _Optional[_Union[RestartReason, str]] = ..., detail: _Optional[str] = ..., attempt: _Optional[int] = ..., backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., restarted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., budget_exhausted: _Optional[bool] = ...) -> None: ...

class ReportRestartResponse(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...
