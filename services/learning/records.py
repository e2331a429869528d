"""Domain records of the learning service and their validation (no gRPC here).

The servicer converts protobuf messages into these records; everything below
it (storage, spool, model, profiles, insights) speaks only these.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from switchboard.runtime.status import FieldViolation
from switchboard.runtime.tenant import MAX_TENANT_CHARS

DEFAULT_TOPIC = "general"
MAX_ID = 128
MAX_USER = 256
MAX_TENANT = MAX_TENANT_CHARS
MAX_TOPIC = 64
MAX_BACKEND = 128
MAX_MODEL = 256
MAX_ERROR_DETAIL = 512
MAX_COMMENT = 2000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # anything older is a client bug, not data

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9_.:/-]*$")


class Outcome(StrEnum):
    SUCCESS = "success"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CONNECTION_ERROR = "connection_error"
    MALFORMED_STREAM = "malformed_stream"
    CANCELLED = "cancelled"
    CONTENT_FILTERED = "content_filtered"
    OTHER_ERROR = "other_error"


class Durability(StrEnum):
    STORED = "stored"
    SPOOLED = "spooled"


Key = tuple[str, str]  # (tenant, id): idempotency keys are unique per tenant


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    """One backend attempt, validated and normalised (topic defaulted, tenant resolved)."""

    tenant: str
    interaction_id: str
    backend: str
    outcome: Outcome
    occurred_at: datetime
    request_id: str = ""
    user_id: str = ""
    topic: str = DEFAULT_TOPIC
    model: str = ""
    error_detail: str = ""
    attempt: int = 0
    ttft_s: float | None = None
    total_time_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    prompt_chars: int = 0
    fallback: bool = False
    was_cached: bool = False
    prompt_fingerprint: str = ""

    @property
    def key(self) -> Key:
        return (self.tenant, self.interaction_id)

    @property
    def request_key(self) -> str:
        """Groups the attempts of one client request."""
        return self.request_id or self.interaction_id

    @property
    def first_attempt(self) -> bool:
        """Counts as a request (fallback attempts do not)."""
        return not self.fallback and self.attempt <= 1

    @property
    def success(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["occurred_at"] = self.occurred_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InteractionRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["outcome"] = Outcome(values["outcome"])
        values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
        return cls(**values)

    @classmethod
    def from_row(cls, row: Any) -> InteractionRecord:
        """From a `learning_interactions` row (ORM object or Row with the same names)."""
        values = {f.name: getattr(row, f.name) for f in fields(cls)}
        values["outcome"] = Outcome(values["outcome"])
        return cls(**values)


class RatedInteraction(Protocol):
    """What a rating needs to know about its interaction: whose it was, on
    which topic and backend. An InteractionRecord is one; so is the compact
    memory the ingestor keeps of recent interactions."""

    @property
    def tenant(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def backend(self) -> str: ...


class FeedbackKind(StrEnum):
    THUMB = "thumb"
    STARS = "stars"
    IMPLICIT = "implicit"


class Signal(StrEnum):
    REASK = "reask"
    REGENERATE = "regenerate"
    ABANDONED = "abandoned"
    COPIED = "copied"


DISSATISFACTION = frozenset({Signal.REASK, Signal.REGENERATE, Signal.ABANDONED})


@dataclass(frozen=True)
class FeedbackRecord:
    """Feedback on one interaction. `feedback_id` is the caller's key or one
    derived from (interaction, user) for ratings and (interaction, signal) for
    implicit signals; `caller_id` says which."""

    tenant: str
    feedback_id: str
    interaction_id: str
    kind: FeedbackKind
    positive: float  # satisfaction in [0, 1]
    occurred_at: datetime
    caller_id: bool = False
    user_id: str = ""
    thumb: str | None = None  # "up" | "down"
    stars: int | None = None
    signal: Signal | None = None
    related_interaction_id: str = ""
    comment: str = ""

    @property
    def key(self) -> Key:
        return (self.tenant, self.feedback_id)

    @property
    def interaction_key(self) -> Key:
        return (self.tenant, self.interaction_id)

    @property
    def explicit(self) -> bool:
        return self.kind is not FeedbackKind.IMPLICIT

    def same_content(self, other: FeedbackRecord) -> bool:
        """Identical feedback (a repeat), ignoring when it was sent."""
        mine, theirs = self.to_json(), other.to_json()
        for volatile in ("occurred_at", "caller_id"):
            mine.pop(volatile)
            theirs.pop(volatile)
        return mine == theirs

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["signal"] = self.signal.value if self.signal else None
        data["occurred_at"] = self.occurred_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedbackRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["kind"] = FeedbackKind(values["kind"])
        values["signal"] = Signal(values["signal"]) if values.get("signal") else None
        values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
        return cls(**values)

    @classmethod
    def from_row(cls, row: Any) -> FeedbackRecord:
        names = [f.name for f in fields(cls) if f.name != "caller_id"]
        values = {name: getattr(row, name) for name in names}
        values["kind"] = FeedbackKind(values["kind"])
        values["signal"] = Signal(values["signal"]) if values["signal"] else None
        values["comment"] = values["comment"] or ""
        return cls(**values)


@dataclass(frozen=True)
class Ack:
    """What a caller is told about one accepted interaction."""

    interaction_id: str
    stored_at: datetime
    duplicate: bool
    durability: Durability


@dataclass(frozen=True)
class FeedbackAck:
    feedback_id: str
    stored_at: datetime
    duplicate: bool
    replaced_previous: bool
    interaction_known: bool
    durability: Durability


@dataclass(frozen=True)
class Rejected:
    index: int
    interaction_id: str
    field: str
    reason: str


@dataclass
class IngestResult:
    """The outcome of a batch or stream: acks in order, rejections, counts."""

    acks: list[Ack] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    received: int = 0

    def count(self, *, durability: Durability | None = None, duplicate: bool | None = None) -> int:
        return sum(
            1
            for a in self.acks
            if (durability is None or a.durability is durability)
            and (duplicate is None or a.duplicate is duplicate)
        )


# --- validation ------------------------------------------------------------------


def normalise_label(value: str) -> str:
    return value.strip().lower()


def check_text(
    violations: list[FieldViolation], name: str, value: str, limit: int, *, required: bool = False
) -> None:
    if required and not value.strip():
        violations.append(FieldViolation(name, "must not be empty"))
    elif len(value) > limit:
        violations.append(FieldViolation(name, f"must be at most {limit} characters"))


def check_label(violations: list[FieldViolation], name: str, value: str, limit: int) -> None:
    """Topic and backend names: printable, no spaces, bounded."""
    if len(value) > limit:
        violations.append(FieldViolation(name, f"must be at most {limit} characters"))
    elif value and not _LABEL.match(value.lower()):
        violations.append(
            FieldViolation(name, "must be a label: letters, digits and _ . : / - only, starting with a letter or digit")
        )


def check_time(
    violations: list[FieldViolation], name: str, value: datetime, now: datetime, max_skew_s: float
) -> None:
    if value < EARLIEST:
        violations.append(FieldViolation(name, f"must not be before {EARLIEST.date().isoformat()}"))
    elif value > now + timedelta(seconds=max_skew_s):
        violations.append(FieldViolation(name, f"must not be more than {max_skew_s:g} s in the future"))


def interaction_violations(
    record: InteractionRecord, now: datetime, max_skew_s: float, prefix: str = "interaction."
) -> list[FieldViolation]:
    """Every problem with `record`, each naming its proto field under `prefix`."""
    v: list[FieldViolation] = []
    p = prefix
    check_text(v, p + "interaction_id", record.interaction_id, MAX_ID, required=True)
    check_text(v, p + "request_id", record.request_id, MAX_ID)
    check_text(v, p + "tenant", record.tenant, MAX_TENANT, required=True)
    check_text(v, p + "user_id", record.user_id, MAX_USER)
    check_label(v, p + "topic", record.topic, MAX_TOPIC)
    if not record.backend.strip():
        v.append(FieldViolation(p + "backend", "must not be empty"))
    else:
        check_label(v, p + "backend", record.backend, MAX_BACKEND)
    check_text(v, p + "model", record.model, MAX_MODEL)
    check_text(v, p + "error_detail", record.error_detail, MAX_ERROR_DETAIL)
    for name, seconds in (("time_to_first_token", record.ttft_s), ("total_time", record.total_time_s)):
        if seconds is not None and (not math.isfinite(seconds) or seconds < 0):
            v.append(FieldViolation(p + name, "must not be negative"))
    if (
        record.ttft_s is not None
        and record.total_time_s is not None
        and record.ttft_s > record.total_time_s >= 0
    ):
        v.append(FieldViolation(p + "time_to_first_token", "must not exceed total_time"))
    if not math.isfinite(record.cost_usd) or record.cost_usd < 0:
        v.append(FieldViolation(p + "cost_usd", "must be a finite amount ≥ 0"))
    if record.prompt_fingerprint and not _FINGERPRINT.match(record.prompt_fingerprint):
        v.append(FieldViolation(p + "prompt_fingerprint", "must be 64 lower-case hex digits (SHA-256)"))
    check_time(v, p + "occurred_at", record.occurred_at, now, max_skew_s)
    return v
