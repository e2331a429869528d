"""Domain types of the briefs service: plain dataclasses, no gRPC.

Enum values mirror the proto enums one to one, so conversion is `Enum(int)`.
Instants are timezone-aware UTC datetimes; dates are the owner's local dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import IntEnum


class DealStage(IntEnum):
    UNSPECIFIED = 0
    LEAD = 1
    QUALIFIED = 2
    PROPOSAL = 3
    NEGOTIATION = 4
    WON = 5
    LOST = 6

    @property
    def is_open(self) -> bool:
        return self not in (DealStage.WON, DealStage.LOST, DealStage.UNSPECIFIED)

    @property
    def label(self) -> str:
        return self.name.lower()


class TaskPriority(IntEnum):
    UNSPECIFIED = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    URGENT = 4


class TaskStatus(IntEnum):
    UNSPECIFIED = 0
    OPEN = 1
    IN_PROGRESS = 2
    DONE = 3
    CANCELLED = 4


class OutreachChannel(IntEnum):
    UNSPECIFIED = 0
    EMAIL = 1
    PHONE = 2
    LINKEDIN = 3
    MEETING = 4
    OTHER = 5


class OutreachOutcome(IntEnum):
    UNSPECIFIED = 0
    SENT = 1
    REPLIED = 2
    MEETING = 3
    ADVANCED = 4
    LOST = 5

    @property
    def is_response(self) -> bool:
        return self in (OutreachOutcome.REPLIED, OutreachOutcome.MEETING, OutreachOutcome.ADVANCED, OutreachOutcome.LOST)


class BriefKind(IntEnum):
    UNSPECIFIED = 0
    MORNING = 1
    AFTERNOON = 2
    EVENING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class NarrativeStatus(IntEnum):
    UNSPECIFIED = 0
    INCLUDED = 1
    SKIPPED_DISABLED = 2
    SKIPPED_ROUTER_UNAVAILABLE = 3
    SKIPPED_DEADLINE = 4


class DeliveryStatus(IntEnum):
    UNSPECIFIED = 0
    PENDING = 1
    RETRYING = 2
    DELIVERED = 3
    FAILED = 4


class PriorityReason(IntEnum):
    UNSPECIFIED = 0
    OVERDUE = 1
    DUE_TODAY = 2


BRIEF_KINDS = (BriefKind.MORNING, BriefKind.AFTERNOON, BriefKind.EVENING)


@dataclass(frozen=True)
class Scope:
    """Whose data: every query and write is confined to one tenant and owner."""

    tenant: str
    owner_id: str


@dataclass(frozen=True)
class Money:
    minor_units: int
    currency: str


@dataclass
class Contact:
    id: str
    owner_id: str
    name: str
    email: str = ""
    company: str = ""
    phone: str = ""
    time_zone: str = ""
    notes: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Deal:
    id: str
    owner_id: str
    contact_id: str
    title: str
    stage: DealStage
    value: Money | None = None
    probability: float = 0.0
    last_contact_at: datetime | None = None
    next_step: str = ""
    expected_close: date | None = None
    stage_changed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Task:
    id: str
    owner_id: str
    title: str
    due_at: datetime | None = None
    priority: TaskPriority = TaskPriority.MEDIUM
    status: TaskStatus = TaskStatus.OPEN
    completed_at: datetime | None = None
    estimated: timedelta | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class CalendarEvent:
    id: str
    owner_id: str
    title: str
    start_at: datetime
    end_at: datetime
    all_day: bool = False
    attendees: list[str] = field(default_factory=list)
    location: str = ""
    source_uid: str = ""
    recurrence_id: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class OutreachEntry:
    id: str
    owner_id: str
    contact_id: str
    channel: OutreachChannel
    outcome: OutreachOutcome
    at: datetime
    deal_id: str | None = None
    note: str = ""
    # The deal's stage when the entry was logged (drives per-stage rates).
    deal_stage: DealStage | None = None


@dataclass(frozen=True)
class StageChange:
    deal_id: str
    from_stage: DealStage
    to_stage: DealStage
    at: datetime


@dataclass(frozen=True)
class Sink:
    """Exactly one of the two is set."""

    webhook_url: str = ""
    email_address: str = ""

    @property
    def label(self) -> str:
        return self.webhook_url or self.email_address


DEFAULT_TIMES = {BriefKind.MORNING: time(7, 0), BriefKind.AFTERNOON: time(13, 0), BriefKind.EVENING: time(17, 0)}
DEFAULT_STALE_DEAL_DAYS = 14


@dataclass
class OwnerSettings:
    owner_id: str
    time_zone: str = "UTC"
    morning_time: time = DEFAULT_TIMES[BriefKind.MORNING]
    afternoon_time: time = DEFAULT_TIMES[BriefKind.AFTERNOON]
    evening_time: time = DEFAULT_TIMES[BriefKind.EVENING]
    sinks: list[Sink] = field(default_factory=list)
    narrative_enabled: bool = True
    stale_deal_days: int = DEFAULT_STALE_DEAL_DAYS
    updated_at: datetime | None = None

    def time_of(self, kind: BriefKind) -> time:
        return {
            BriefKind.MORNING: self.morning_time,
            BriefKind.AFTERNOON: self.afternoon_time,
            BriefKind.EVENING: self.evening_time,
        }[kind]


@dataclass
class Snapshot:
    """The owner's data a brief is computed from (compose filters it precisely)."""

    contacts: dict[str, Contact] = field(default_factory=dict)
    deals: list[Deal] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    events: list[CalendarEvent] = field(default_factory=list)
    outreach: list[OutreachEntry] = field(default_factory=list)
    stage_changes: list[StageChange] = field(default_factory=list)


# --- brief content -----------------------------------------------------------


@dataclass
class FreeSlot:
    start_at: datetime
    end_at: datetime

    @property
    def duration(self) -> timedelta:
        return self.end_at - self.start_at


@dataclass
class PriorityTask:
    task: Task
    reason: PriorityReason
    overdue_by: timedelta | None = None


@dataclass
class OutreachOpportunity:
    deal: Deal
    contact: Contact | None
    expected_value: Money | None
    score: float
    reason: str
    suggested_next_step: str
    suggested_channel: OutreachChannel
    suggested_channel_response_rate: float
    days_since_contact: int


@dataclass
class MorningBrief:
    events: list[CalendarEvent] = field(default_factory=list)
    free_slots: list[FreeSlot] = field(default_factory=list)
    top_priorities: list[PriorityTask] = field(default_factory=list)
    top_opportunities: list[OutreachOpportunity] = field(default_factory=list)


@dataclass
class DealWin:
    deal: Deal
    from_stage: DealStage
    to_stage: DealStage


@dataclass
class OverdueTask:
    task: Task
    overdue_by: timedelta


@dataclass
class StaleDeal:
    deal: Deal
    contact: Contact | None
    days_since_contact: int


@dataclass
class AfternoonBrief:
    tasks_due_today: list[Task] = field(default_factory=list)
    tasks_done_today: list[Task] = field(default_factory=list)
    progress_percent: float = 0.0
    completed_tasks: list[Task] = field(default_factory=list)
    deal_wins: list[DealWin] = field(default_factory=list)
    overdue_tasks: list[OverdueTask] = field(default_factory=list)
    stale_deals: list[StaleDeal] = field(default_factory=list)


@dataclass
class DaySummary:
    events: int = 0
    tasks_due: int = 0
    tasks_completed: int = 0
    tasks_overdue: int = 0
    outreach_logged: int = 0
    outreach_responses: int = 0
    deals_advanced: int = 0
    deals_won: int = 0
    deals_lost: int = 0


@dataclass
class TimeSaved:
    total: timedelta = timedelta(0)
    from_interactions: timedelta = timedelta(0)
    from_tasks: timedelta = timedelta(0)
    interactions: int = 0
    learning_unavailable: bool = False


@dataclass
class EveningBrief:
    summary: DaySummary
    time_saved: TimeSaved
    tomorrow: date
    tomorrow_events: list[CalendarEvent] = field(default_factory=list)
    tomorrow_tasks: list[Task] = field(default_factory=list)


BriefContent = MorningBrief | AfternoonBrief | EveningBrief


@dataclass
class Delivery:
    sink: Sink
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_error: str = ""
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None


@dataclass
class Brief:
    id: str
    owner_id: str
    kind: BriefKind
    date: date
    as_of: datetime
    generated_at: datetime
    time_zone: str
    content: BriefContent
    text: str
    narrative: str = ""
    narrative_status: NarrativeStatus = NarrativeStatus.UNSPECIFIED
    deliveries: list[Delivery] = field(default_factory=list)


# --- import results ------------------------------------------------------------


@dataclass
class RowError:
    line: int
    field: str
    reason: str


@dataclass
class CsvImportResult:
    imported: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass
class CalendarImportProblem:
    line: int
    source_uid: str
    property: str
    reason: str


@dataclass
class CalendarImportResult:
    imported: int = 0
    updated: int = 0
    problems: list[CalendarImportProblem] = field(default_factory=list)
