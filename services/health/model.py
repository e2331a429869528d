"""The monitor's vocabulary, free of gRPC. Enum values equal the contract's
(monitor.proto), so the servicer converts with a plain int()."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum


class Kind(IntEnum):
    UNSPECIFIED = 0
    SERVICE = 1
    BACKEND = 2
    DATABASE = 3
    CACHE_STORE = 4
    SYSTEM = 5


class Status(IntEnum):
    UNSPECIFIED = 0
    HEALTHY = 1
    DEGRADED = 2
    UNHEALTHY = 3
    UNREACHABLE = 4
    NOT_AVAILABLE = 5

    @property
    def is_up(self) -> bool:
        """Counts as uptime (HEALTHY or DEGRADED)."""
        return self in (Status.HEALTHY, Status.DEGRADED)

    @property
    def is_bad(self) -> bool:
        return self in (Status.UNHEALTHY, Status.UNREACHABLE)


# Worst first when judging the overall status (NOT_AVAILABLE is ignored there).
SEVERITY_ORDER = {
    Status.HEALTHY: 0,
    Status.UNSPECIFIED: 1,
    Status.DEGRADED: 2,
    Status.UNHEALTHY: 3,
    Status.UNREACHABLE: 4,
}


class Serving(IntEnum):
    """grpc.health.v1 status of one service name (UNSPECIFIED plays UNKNOWN)."""

    UNSPECIFIED = 0
    SERVING = 1
    NOT_SERVING = 2
    SERVICE_UNKNOWN = 3


class Trend(IntEnum):
    UNSPECIFIED = 0
    IMPROVING = 1
    STABLE = 2
    DEGRADING = 3


class Severity(IntEnum):
    UNSPECIFIED = 0
    INFO = 1
    WARNING = 2
    CRITICAL = 3


class AlertKind(IntEnum):
    UNSPECIFIED = 0
    TRANSITION = 1
    RESTART = 2
    ANOMALY = 3
    RESTART_BUDGET_EXHAUSTED = 4


class RestartReason(IntEnum):
    UNSPECIFIED = 0
    PROCESS_EXITED = 1
    NOT_SERVING = 2
    UNREACHABLE = 3


def target_id(kind: Kind, name: str = "") -> str:
    """"service:<name>", "backend:<name>", "database", "redis" or "system"."""
    if kind is Kind.SERVICE:
        return f"service:{name}"
    if kind is Kind.BACKEND:
        return f"backend:{name}"
    return {Kind.DATABASE: "database", Kind.CACHE_STORE: "redis", Kind.SYSTEM: "system"}[kind]


@dataclass(frozen=True)
class ProbeResult:
    """What one probe (or one Watch message) found out."""

    status: Status
    latency_s: float | None = None  # round trip; None when nothing answered
    detail: str = ""  # empty when healthy
    serving: dict[str, Serving] | None = None  # service targets: grpc.health.v1 per service name
    counts_as_probe: bool = True  # False for Watch messages: no latency sample, no failure count

    @property
    def failed(self) -> bool:
        return self.status.is_bad


@dataclass(frozen=True)
class Baseline:
    mean_s: float
    stddev_s: float
    sample_count: int


@dataclass(frozen=True)
class TargetView:
    """One target's state at one moment (TargetState in the contract)."""

    target: str
    kind: Kind
    status: Status
    since: datetime
    probe_latency_s: float | None
    consecutive_failures: int
    uptime_ratio: float
    uptime_window_s: float
    baseline: Baseline
    latency_anomaly: bool
    trend: Trend
    serving: dict[str, Serving]
    detail: str
    last_probe_at: datetime | None
    endpoint: str


@dataclass(frozen=True)
class Transition:
    target: str
    kind: Kind
    from_status: Status
    to_status: Status
    at: datetime
    reason: str
    state: TargetView
    overall: Status
    anomaly: bool = False  # caused by a latency anomaly (HEALTHY -> DEGRADED)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    utilization_percent: float
    memory_used_bytes: int
    memory_total_bytes: int


@dataclass(frozen=True)
class ProcessInfo:
    service: str
    pid: int  # 0 when not running
    cpu_percent: float = 0.0
    rss_bytes: int = 0
    restarts: int = 0
    started_at: datetime | None = None


@dataclass(frozen=True)
class SystemView:
    collected_at: datetime
    cpu_percent: float
    cpu_count: int
    memory_used_bytes: int
    memory_total_bytes: int
    disk_path: str
    disk_used_bytes: int
    disk_total_bytes: int
    gpu_available: bool
    gpu_unavailable_reason: str
    gpus: tuple[GpuInfo, ...] = ()
    processes: tuple[ProcessInfo, ...] = ()


@dataclass(frozen=True)
class HistorySample:
    target: str
    at: datetime
    status: Status
    latency_s: float | None
    detail: str


@dataclass
class Delivery:
    sink: str  # "log", "webhook" or "email"
    delivered: bool = False
    attempts: int = 0
    last_error: str = ""
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass
class Alert:
    id: str
    dedup_key: str
    target: str
    severity: Severity
    kind: AlertKind
    title: str
    message: str
    created_at: datetime
    last_seen_at: datetime
    occurrences: int = 1
    from_status: Status = Status.UNSPECIFIED
    to_status: Status = Status.UNSPECIFIED
    acknowledged: bool = False
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    acknowledgement_note: str = ""
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass(frozen=True)
class RestartReport:
    service: str
    pid: int
    previous_pid: int
    reason: RestartReason
    detail: str
    attempt: int
    backoff_s: float
    restarted_at: datetime | None
    budget_exhausted: bool
