import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from google.type import timeofday_pb2 as _timeofday_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DealStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEAL_STAGE_UNSPECIFIED: _ClassVar[DealStage]
    DEAL_STAGE_LEAD: _ClassVar[DealStage]
    DEAL_STAGE_QUALIFIED: _ClassVar[DealStage]
    DEAL_STAGE_PROPOSAL: _ClassVar[DealStage]
    DEAL_STAGE_NEGOTIATION: _ClassVar[DealStage]
    DEAL_STAGE_WON: _ClassVar[DealStage]
    DEAL_STAGE_LOST: _ClassVar[DealStage]

class TaskPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_PRIORITY_UNSPECIFIED: _ClassVar[TaskPriority]
    TASK_PRIORITY_LOW: _ClassVar[TaskPriority]
    TASK_PRIORITY_MEDIUM: _ClassVar[TaskPriority]
    TASK_PRIORITY_HIGH: _ClassVar[TaskPriority]
    TASK_PRIORITY_URGENT: _ClassVar[TaskPriority]

class TaskStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATUS_UNSPECIFIED: _ClassVar[TaskStatus]
    TASK_STATUS_OPEN: _ClassVar[TaskStatus]
    TASK_STATUS_IN_PROGRESS: _ClassVar[TaskStatus]
    TASK_STATUS_DONE: _ClassVar[TaskStatus]
    TASK_STATUS_CANCELLED: _ClassVar[TaskStatus]

class OutreachChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTREACH_CHANNEL_UNSPECIFIED: _ClassVar[OutreachChannel]
    OUTREACH_CHANNEL_EMAIL: _ClassVar[OutreachChannel]
    OUTREACH_CHANNEL_PHONE: _ClassVar[OutreachChannel]
    OUTREACH_CHANNEL_LINKEDIN: _ClassVar[OutreachChannel]
    OUTREACH_CHANNEL_MEETING: _ClassVar[OutreachChannel]
    OUTREACH_CHANNEL_OTHER: _ClassVar[OutreachChannel]

class OutreachOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTREACH_OUTCOME_UNSPECIFIED: _ClassVar[OutreachOutcome]
    OUTREACH_OUTCOME_SENT: _ClassVar[OutreachOutcome]
    OUTREACH_OUTCOME_REPLIED: _ClassVar[OutreachOutcome]
    OUTREACH_OUTCOME_MEETING: _ClassVar[OutreachOutcome]
    OUTREACH_OUTCOME_ADVANCED: _ClassVar[OutreachOutcome]
    OUTREACH_OUTCOME_LOST: _ClassVar[OutreachOutcome]

class BriefKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BRIEF_KIND_UNSPECIFIED: _ClassVar[BriefKind]
    BRIEF_KIND_MORNING: _ClassVar[BriefKind]
    BRIEF_KIND_AFTERNOON: _ClassVar[BriefKind]
    BRIEF_KIND_EVENING: _ClassVar[BriefKind]

class NarrativeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NARRATIVE_STATUS_UNSPECIFIED: _ClassVar[NarrativeStatus]
    NARRATIVE_STATUS_INCLUDED: _ClassVar[NarrativeStatus]
    NARRATIVE_STATUS_SKIPPED_DISABLED: _ClassVar[NarrativeStatus]
    NARRATIVE_STATUS_SKIPPED_ROUTER_UNAVAILABLE: _ClassVar[NarrativeStatus]
    NARRATIVE_STATUS_SKIPPED_DEADLINE: _ClassVar[NarrativeStatus]

class DeliveryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_STATUS_UNSPECIFIED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_PENDING: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_RETRYING: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_DELIVERED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_FAILED: _ClassVar[DeliveryStatus]

class PriorityReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_REASON_UNSPECIFIED: _ClassVar[PriorityReason]
    PRIORITY_REASON_OVERDUE: _ClassVar[PriorityReason]
    PRIORITY_REASON_DUE_TODAY: _ClassVar[PriorityReason]
DEAL_STAGE_UNSPECIFIED: DealStage
DEAL_STAGE_LEAD: DealStage
DEAL_STAGE_QUALIFIED: DealStage
DEAL_STAGE_PROPOSAL: DealStage
DEAL_STAGE_NEGOTIATION: DealStage
DEAL_STAGE_WON: DealStage
DEAL_STAGE_LOST: DealStage
TASK_PRIORITY_UNSPECIFIED: TaskPriority
TASK_PRIORITY_LOW: TaskPriority
TASK_PRIORITY_MEDIUM: TaskPriority
TASK_PRIORITY_HIGH: TaskPriority
TASK_PRIORITY_URGENT: TaskPriority
TASK_STATUS_UNSPECIFIED: TaskStatus
TASK_STATUS_OPEN: TaskStatus
TASK_STATUS_IN_PROGRESS: TaskStatus
TASK_STATUS_DONE: TaskStatus
TASK_STATUS_CANCELLED: TaskStatus
OUTREACH_CHANNEL_UNSPECIFIED: OutreachChannel
OUTREACH_CHANNEL_EMAIL: OutreachChannel
OUTREACH_CHANNEL_PHONE: OutreachChannel
OUTREACH_CHANNEL_LINKEDIN: OutreachChannel
OUTREACH_CHANNEL_MEETING: OutreachChannel
OUTREACH_CHANNEL_OTHER: OutreachChannel
OUTREACH_OUTCOME_UNSPECIFIED: OutreachOutcome
OUTREACH_OUTCOME_SENT: OutreachOutcome
OUTREACH_OUTCOME_REPLIED: OutreachOutcome
OUTREACH_OUTCOME_MEETING: OutreachOutcome
OUTREACH_OUTCOME_ADVANCED: OutreachOutcome
OUTREACH_OUTCOME_LOST: OutreachOutcome
BRIEF_KIND_UNSPECIFIED: BriefKind
BRIEF_KIND_MORNING: BriefKind
BRIEF_KIND_AFTERNOON: BriefKind
BRIEF_KIND_EVENING: BriefKind
NARRATIVE_STATUS_UNSPECIFIED: NarrativeStatus
NARRATIVE_STATUS_INCLUDED: NarrativeStatus
NARRATIVE_STATUS_SKIPPED_DISABLED: NarrativeStatus
NARRATIVE_STATUS_SKIPPED_ROUTER_UNAVAILABLE: NarrativeStatus
NARRATIVE_STATUS_SKIPPED_DEADLINE: NarrativeStatus
DELIVERY_STATUS_UNSPECIFIED: DeliveryStatus
DELIVERY_STATUS_PENDING: DeliveryStatus
DELIVERY_STATUS_RETRYING: DeliveryStatus
DELIVERY_STATUS_DELIVERED: DeliveryStatus
DELIVERY_STATUS_FAILED: DeliveryStatus
PRIORITY_REASON_UNSPECIFIED: PriorityReason
PRIORITY_REASON_OVERDUE: PriorityReason
PRIORITY_REASON_DUE_TODAY: PriorityReason

class MoneyAmount(_message.Message):
    __slots__ = ("minor_units", "currency_code")
    MINOR_UNITS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    minor_units: int
    currency_code: str
    def __init__(self, minor_units: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("id", "owner_id", "name", "email", "company", "phone", "time_zone", "notes", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    name: str
    email: str
    company: str
    phone: str
    time_zone: str
    notes: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., company: _Optional[str] = ..., phone: _Optional[str] = ..., time_zone: _Optional[str] = ..., notes: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Deal(_message.Message):
    __slots__ = ("id", "owner_id", "contact_id", "title", "value", "stage", "probability", "last_contact_at", "next_step", "expected_close", "stage_changed_at", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    LAST_CONTACT_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_STEP_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_CLOSE_FIELD_NUMBER: _ClassVar[int]
    STAGE_CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    contact_id: str
    title: str
    value: MoneyAmount
    stage: DealStage
    probability: float
    last_contact_at: _timestamp_pb2.Timestamp
    next_step: str
    expected_close: _date_pb2.Date
    stage_changed_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., title: _Optional[str] = ..., value: _Optional[_Union[MoneyAmount, _Mapping]] = ..., stage: _Optional[_Union[DealStage, str]] = ..., probability: _Optional[float] = ..., last_contact_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_step: _Optional[str] = ..., expected_close: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., stage_changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "owner_id", "title", "due_at", "priority", "status", "completed_at", "estimated", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    title: str
    due_at: _timestamp_pb2.Timestamp
    priority: TaskPriority
    status: TaskStatus
    completed_at: _timestamp_pb2.Timestamp
    estimated: _duration_pb2.Duration
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., title: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., priority: _Optional[_Union[TaskPriority, str]] = ..., status: _Optional[_Union[TaskStatus, str]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., estimated: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CalendarEvent(_message.Message):
    __slots__ = ("id", "owner_id", "title", "start_at", "end_at", "all_day", "attendees", "location", "source_uid", "recurrence_id", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    START_AT_FIELD_NUMBER: _ClassVar[int]
    END_AT_FIELD_NUMBER: _ClassVar[int]
    ALL_DAY_FIELD_NUMBER: _ClassVar[int]
    ATTENDEES_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_UID_FIELD_NUMBER: _ClassVar[int]
    RECURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    title: str
    start_at: _timestamp_pb2.Timestamp
    end_at: _timestamp_pb2.Timestamp
    all_day: bool
    attendees: _containers.RepeatedScalarFieldContainer[str]
    location: str
    source_uid: str
    recurrence_id: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., title: _Optional[str] = ..., start_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., all_day: _Optional[bool] = ..., attendees: _Optional[_Iterable[str]] = ..., location: _Optional[str] = ..., source_uid: _Optional[str] = ..., recurrence_id: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OutreachEntry(_message.Message):
    __slots__ = ("id", "owner_id", "contact_id", "deal_id", "channel", "outcome", "at", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    contact_id: str
    deal_id: str
    channel: OutreachChannel
    outcome: OutreachOutcome
    at: _timestamp_pb2.Timestamp
    note: str
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., deal_id: _Optional[str] = ..., channel: _Optional[_Union[OutreachChannel, str]] = ..., outcome: _Optional[_Union[OutreachOutcome, str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class DeliverySink(_message.Message):
    __slots__ = ("webhook_url", "email_address")
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    webhook_url: str
    email_address: str
    def __init__(self, webhook_url: _Optional[str] = ..., email_address: _Optional[str] = ...) -> None: ...

class OwnerSettings(_message.Message):
    __slots__ = ("owner_id", "time_zone", "morning_time", "afternoon_time", "evening_time", "sinks", "narrative_enabled", "stale_deal_days", "updated_at")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    MORNING_TIME_FIELD_NUMBER: _ClassVar[int]
    AFTERNOON_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENING_TIME_FIELD_NUMBER: _ClassVar[int]
    SINKS_FIELD_NUMBER: _ClassVar[int]
    NARRATIVE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    STALE_DEAL_DAYS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    time_zone: str
    morning_time: _timeofday_pb2.TimeOfDay
    afternoon_time: _timeofday_pb2.TimeOfDay
    evening_time: _timeofday_pb2.TimeOfDay
    sinks: _containers.RepeatedCompositeFieldContainer[DeliverySink]
    narrative_enabled: bool
    stale_deal_days: int
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, owner_id: _Optional[str] = ..., time_zone: _Optional[str] = ..., morning_time: _Optional[_Union[_timeofday_pb2.TimeOfDay, _Mapping]] = ..., afternoon_time: _Optional[_Union[_timeofday_pb2.TimeOfDay, _Mapping]] = ..., evening_time: _Optional[_Union[_timeofday_pb2.TimeOfDay, _Mapping]] = ..., sinks: _Optional[_Iterable[_Union[DeliverySink, _Mapping]]] = ..., narrative_enabled: _Optional[bool] = ..., stale_deal_days: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("sink", "status", "attempts", "last_error", "delivered_at", "next_attempt_at")
    SINK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    sink: DeliverySink
    status: DeliveryStatus
    attempts: int
    last_error: str
    delivered_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    def __init__(self, sink: _Optional[_Union[DeliverySink, _Mapping]] = ..., status: _Optional[_Union[DeliveryStatus, str]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FreeSlot(_message.Message):
    __slots__ = ("start_at", "end_at", "duration")
    START_AT_FIELD_NUMBER: _ClassVar[int]
    END_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    start_at: _timestamp_pb2.Timestamp
    end_at: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    def __init__(self, start_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class PriorityTask(_message.Message):
    __slots__ = ("task", "reason", "overdue_by")
    TASK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_BY_FIELD_NUMBER: _ClassVar[int]
    task: Task
    reason: PriorityReason
    overdue_by: _duration_pb2.Duration
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., reason: _Optional[_Union[PriorityReason, str]] = ..., overdue_by: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class OutreachOpportunity(_message.Message):
    __slots__ = ("deal", "contact", "expected_value", "score", "reason", "suggested_next_step", "suggested_channel", "suggested_channel_response_rate", "days_since_contact")
    DEAL_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VALUE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_NEXT_STEP_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_CHANNEL_RESPONSE_RATE_FIELD_NUMBER: _ClassVar[int]
    DAYS_SINCE_CONTACT_FIELD_NUMBER: _ClassVar[int]
    deal: Deal
    contact: Contact
    expected_value: MoneyAmount
    score: float
    reason: str
    suggested_next_step: str
    suggested_channel: OutreachChannel
    suggested_channel_response_rate: float
    days_since_contact: int
    def __init__(self, deal: _Optional[_Union[Deal, _Mapping]] = ..., contact: _Optional[_Union[Contact, _Mapping]] = ..., expected_value: _Optional[_Union[MoneyAmount, _Mapping]] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., suggested_next_step: _Optional[str] = ..., suggested_channel: _Optional[_Union[OutreachChannel, str]] = ..., suggested_channel_response_rate: _Optional[float] = ..., days_since_contact: _Optional[int] = ...) -> None: ...

class MorningBrief(_message.Message):
    __slots__ = ("events", "free_slots", "top_priorities", "top_opportunities")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    TOP_PRIORITIES_FIELD_NUMBER: _ClassVar[int]
    TOP_OPPORTUNITIES_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[CalendarEvent]
    free_slots: _containers.RepeatedCompositeFieldContainer[FreeSlot]
    top_priorities: _containers.RepeatedCompositeFieldContainer[PriorityTask]
    top_opportunities: _containers.RepeatedCompositeFieldContainer[OutreachOpportunity]
    def __init__(self, events: _Optional[_Iterable[_Union[CalendarEvent, _Mapping]]] = ..., free_slots: _Optional[_Iterable[_Union[FreeSlot, _Mapping]]] = ..., top_priorities: _Optional[_Iterable[_Union[PriorityTask, _Mapping]]] = ..., top_opportunities: _Optional[_Iterable[_Union[OutreachOpportunity, _Mapping]]] = ...) -> None: ...

class DealWin(_message.Message):
    __slots__ = ("deal", "from_stage", "to_stage")
    DEAL_FIELD_NUMBER: _ClassVar[int]
    FROM_STAGE_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    deal: Deal
    from_stage: DealStage
    to_stage: DealStage
    def __init__(self, deal: _Optional[_Union[Deal, _Mapping]] = ..., from_stage: _Optional[_Union[DealStage, str]] = ..., to_stage: _Optional[_Union[DealStage, str]] = ...) -> None: ...

class OverdueTask(_message.Message):
    __slots__ = ("task", "overdue_by")
    TASK_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_BY_FIELD_NUMBER: _ClassVar[int]
    task: Task
    overdue_by: _duration_pb2.Duration
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., overdue_by: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StaleDeal(_message.Message):
    __slots__ = ("deal", "contact", "days_since_contact")
    DEAL_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    DAYS_SINCE_CONTACT_FIELD_NUMBER: _ClassVar[int]
    deal: Deal
    contact: Contact
    days_since_contact: int
    def __init__(self, deal: _Optional[_Union[Deal, _Mapping]] = ..., contact: _Optional[_Union[Contact, _Mapping]] = ..., days_since_contact: _Optional[int] = ...) -> None: ...

class AfternoonBrief(_message.Message):
    __slots__ = ("tasks_due_today", "tasks_done_today", "progress_percent", "completed_tasks", "deal_wins", "overdue_tasks", "stale_deals")
    TASKS_DUE_TODAY_FIELD_NUMBER: _ClassVar[int]
    TASKS_DONE_TODAY_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    DEAL_WINS_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_TASKS_FIELD_NUMBER: _ClassVar[int]
    STALE_DEALS_FIELD_NUMBER: _ClassVar[int]
    tasks_due_today: _containers.RepeatedCompositeFieldContainer[Task]
    tasks_done_today: _containers.RepeatedCompositeFieldContainer[Task]
    progress_percent: float
    completed_tasks: _containers.RepeatedCompositeFieldContainer[Task]
    deal_wins: _containers.RepeatedCompositeFieldContainer[DealWin]
    overdue_tasks: _containers.RepeatedCompositeFieldContainer[OverdueTask]
    stale_deals: _containers.RepeatedCompositeFieldContainer[StaleDeal]
    def __init__(self, tasks_due_today: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., tasks_done_today: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., progress_percent: _Optional[float] = ..., completed_tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., deal_wins: _Optional[_Iterable[_Union[DealWin, _Mapping]]] = ..., overdue_tasks: _Optional[_Iterable[_Union[OverdueTask, _Mapping]]] = ..., stale_deals: _Optional[_Iterable[_Union[StaleDeal, _Mapping]]] = ...) -> None: ...

class DaySummary(_message.Message):
    __slots__ = ("events", "tasks_due", "tasks_completed", "tasks_overdue", "outreach_logged", "outreach_responses", "deals_advanced", "deals_won", "deals_lost")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TASKS_DUE_FIELD_NUMBER: _ClassVar[int]
    TASKS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    TASKS_OVERDUE_FIELD_NUMBER: _ClassVar[int]
    OUTREACH_LOGGED_FIELD_NUMBER: _ClassVar[int]
    OUTREACH_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    DEALS_ADVANCED_FIELD_NUMBER: _ClassVar[int]
    DEALS_WON_FIELD_NUMBER: _ClassVar[int]
    DEALS_LOST_FIELD_NUMBER: _ClassVar[int]
    events: int
    tasks_due: int
    tasks_completed: int
    tasks_overdue: int
    outreach_logged: int
    outreach_responses: int
    deals_advanced: int
    deals_won: int
    deals_lost: int
    def __init__(self, events: _Optional[int] = ..., tasks_due: _Optional[int] = ..., tasks_completed: _Optional[int] = ..., tasks_overdue: _Optional[int] = ..., outreach_logged: _Optional[int] = ..., outreach_responses: _Optional[int] = ..., deals_advanced: _Optional[int] = ..., deals_won: _Optional[int] = ..., deals_lost: _Optional[int] = ...) -> None: ...

class TimeSaved(_message.Message):
    __slots__ = ("total", "from_interactions", "from_tasks", "interactions", "learning_unavailable")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FROM_INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    FROM_TASKS_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    total: _duration_pb2.Duration
    from_interactions: _duration_pb2.Duration
    from_tasks: _duration_pb2.Duration
    interactions: int
    learning_unavailable: bool
    def __init__(self, total: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., from_interactions: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., from_tasks: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., interactions: _Optional[int] = ..., learning_unavailable: _Optional[bool] = ...) -> None: ...

class EveningBrief(_message.Message):
    __slots__ = ("summary", "time_saved", "tomorrow", "tomorrow_events", "tomorrow_tasks")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TIME_SAVED_FIELD_NUMBER: _ClassVar[int]
    TOMORROW_FIELD_NUMBER: _ClassVar[int]
    TOMORROW_EVENTS_FIELD_NUMBER: _ClassVar[int]
    TOMORROW_TASKS_FIELD_NUMBER: _ClassVar[int]
    summary: DaySummary
    time_saved: TimeSaved
    tomorrow: _date_pb2.Date
    tomorrow_events: _containers.RepeatedCompositeFieldContainer[CalendarEvent]
    tomorrow_tasks: _containers.RepeatedCompositeFieldContainer[Task]
    def __init__(self, summary: _Optional[_Union[DaySummary, _Mapping]] = ..., time_saved: _Optional[_Union[TimeSaved, _Mapping]] = ..., tomorrow: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., tomorrow_events: _Optional[_Iterable[_Union[CalendarEvent, _Mapping]]] = ..., tomorrow_tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ...) -> None: ...

class Brief(_message.Message):
    __slots__ = ("id", "owner_id", "kind", "date", "as_of", "generated_at", "time_zone", "morning", "afternoon", "evening", "text", "narrative", "narrative_status", "deliveries")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    MORNING_FIELD_NUMBER: _ClassVar[int]
    AFTERNOON_FIELD_NUMBER: _ClassVar[int]
    EVENING_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    NARRATIVE_FIELD_NUMBER: _ClassVar[int]
    NARRATIVE_STATUS_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    kind: BriefKind
    date: _date_pb2.Date
    as_of: _timestamp_pb2.Timestamp
    generated_at: _timestamp_pb2.Timestamp
    time_zone: str
    morning: MorningBrief
    afternoon: AfternoonBrief
    evening: EveningBrief
    text: str
    narrative: str
    narrative_status: NarrativeStatus
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., kind: _Optional[_Union[BriefKind, str]] = ..., date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_zone: _Optional[str] = ..., morning: _Optional[_Union[MorningBrief, _Mapping]] = ..., afternoon: _Optional[_Union[AfternoonBrief, _Mapping]] = ..., evening: _Optional[_Union[EveningBrief, _Mapping]] = ..., text: _Optional[str] = ..., narrative: _Optional[str] = ..., narrative_status: _Optional[_Union[NarrativeStatus, str]] = ..., deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ...) -> None: ...

class UpsertContactRequest(_message.Message):
    __slots__ = ("owner_id", "contact", "idempotency_key")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    contact: Contact
    idempotency_key: str
    def __init__(self, owner_id: _Optional[str] = ..., contact: _Optional[_Union[Contact, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class UpsertContactResponse(_message.Message):
    __slots__ = ("contact", "created")
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    contact: Contact
    created: bool
    def __init__(self, contact: _Optional[_Union[Contact, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListContactsRequest(_message.Message):
    __slots__ = ("owner_id", "query", "page_size", "page_token")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    query: str
    page_size: int
    page_token: str
    def __init__(self, owner_id: _Optional[str] = ..., query: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListContactsResponse(_message.Message):
    __slots__ = ("contacts", "next_page_token")
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[Contact]
    next_page_token: str
    def __init__(self, contacts: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpsertDealRequest(_message.Message):
    __slots__ = ("owner_id", "deal", "idempotency_key")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    DEAL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    deal: Deal
    idempotency_key: str
    def __init__(self, owner_id: _Optional[str] = ..., deal: _Optional[_Union[Deal, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class UpsertDealResponse(_message.Message):
    __slots__ = ("deal", "created")
    DEAL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    deal: Deal
    created: bool
    def __init__(self, deal: _Optional[_Union[Deal, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListDealsRequest(_message.Message):
    __slots__ = ("owner_id", "stages", "contact_id", "page_size", "page_token")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    stages: _containers.RepeatedScalarFieldContainer[DealStage]
    contact_id: str
    page_size: int
    page_token: str
    def __init__(self, owner_id: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[DealStage, str]]] = ..., contact_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDealsResponse(_message.Message):
    __slots__ = ("deals", "next_page_token")
    DEALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deals: _containers.RepeatedCompositeFieldContainer[Deal]
    next_page_token: str
    def __init__(self, deals: _Optional[_Iterable[_Union[Deal, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpsertTaskRequest(_message.Message):
    __slots__ = ("owner_id", "task", "idempotency_key")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    task: Task
    idempotency_key: str
    def __init__(self, owner_id: _Optional[str] = ..., task: _Optional[_Union[Task, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class UpsertTaskResponse(_message.Message):
    __slots__ = ("task", "created")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    task: Task
    created: bool
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("owner_id", "statuses", "due_after", "due_before", "page_size", "page_token")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    DUE_AFTER_FIELD_NUMBER: _ClassVar[int]
    DUE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    statuses: _containers.RepeatedScalarFieldContainer[TaskStatus]
    due_after: _timestamp_pb2.Timestamp
    due_before: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, owner_id: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[TaskStatus, str]]] = ..., due_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_page_token")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    next_page_token: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CompleteTaskRequest(_message.Message):
    __slots__ = ("owner_id", "task_id", "completed_at")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    task_id: str
    completed_at: _timestamp_pb2.Timestamp
    def __init__(self, owner_id: _Optional[str] = ..., task_id: _Optional[str] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompleteTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class UpsertEventRequest(_message.Message):
    __slots__ = ("owner_id", "event", "idempotency_key")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    event: CalendarEvent
    idempotency_key: str
    def __init__(self, owner_id: _Optional[str] = ..., event: _Optional[_Union[CalendarEvent, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class UpsertEventResponse(_message.Message):
    __slots__ = ("event", "created")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    event: CalendarEvent
    created: bool
    def __init__(self, event: _Optional[_Union[CalendarEvent, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("owner_id", "window_start", "window_end", "page_size", "page_token")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, owner_id: _Optional[str] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[CalendarEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[CalendarEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class LogOutreachRequest(_message.Message):
    __slots__ = ("owner_id", "entry", "idempotency_key")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    entry: OutreachEntry
    idempotency_key: str
    def __init__(self, owner_id: _Optional[str] = ..., entry: _Optional[_Union[OutreachEntry, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class LogOutreachResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: OutreachEntry
    def __init__(self, entry: _Optional[_Union[OutreachEntry, _Mapping]] = ...) -> None: ...

class ListOutreachRequest(_message.Message):
    __slots__ = ("owner_id", "contact_id", "deal_id", "since", "until", "page_size", "page_token")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    contact_id: str
    deal_id: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, owner_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., deal_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOutreachResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[OutreachEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[OutreachEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ImportCalendarRequest(_message.Message):
    __slots__ = ("owner_id", "ics_text", "window_start", "window_end", "idempotency_key")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ICS_TEXT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    ics_text: str
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    idempotency_key: str
    def __init__(self, owner_id: _Optional[str] = ..., ics_text: _Optional[str] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CalendarImportProblem(_message.Message):
    __slots__ = ("line", "source_uid", "property", "reason")
    LINE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_UID_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    line: int
    source_uid: str
    property: str
    reason: str
    def __init__(self, line: _Optional[int] = ..., source_uid: _Optional[str] = ..., property: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportCalendarResponse(_message.Message):
    __slots__ = ("imported", "updated", "problems")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    imported: int
    updated: int
    problems: _containers.RepeatedCompositeFieldContainer[CalendarImportProblem]
    def __init__(self, imported: _Optional[int] = ..., updated: _Optional[int] = ..., problems: _Optional[_Iterable[_Union[CalendarImportProblem, _Mapping]]] = ...) -> None: ...

class RowError(_message.Message):
    __slots__ = ("line", "field", "reason")
    LINE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    line: int
    field: str
    reason: str
    def __init__(self, line: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportContactsCsvRequest(_message.Message):
    __slots__ = ("owner_id", "csv_text", "idempotency_key")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CSV_TEXT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    csv_text: str
    idempotency_key: str
    def __init__(self, owner_id: _Optional[str] = ..., csv_text: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ImportContactsCsvResponse(_message.Message):
    __slots__ = ("imported", "updated", "errors")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    imported: int
    updated: int
    errors: _containers.RepeatedCompositeFieldContainer[RowError]
    def __init__(self, imported: _Optional[int] = ..., updated: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RowError, _Mapping]]] = ...) -> None: ...

class ImportDealsCsvRequest(_message.Message):
    __slots__ = ("owner_id", "csv_text", "idempotency_key")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CSV_TEXT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    csv_text: str
    idempotency_key: str
    def __init__(self, owner_id: _Optional[str] = ..., csv_text: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ImportDealsCsvResponse(_message.Message):
    __slots__ = ("imported", "updated", "errors")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    imported: int
    updated: int
    errors: _containers.RepeatedCompositeFieldContainer[RowError]
    def __init__(self, imported: _Optional[int] = ..., updated: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RowError, _Mapping]]] = ...) -> None: ...

class GetOwnerSettingsRequest(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    def __init__(self, owner_id: _Optional[str] = ...) -> None: ...

class GetOwnerSettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: OwnerSettings
    def __init__(self, settings: _Optional[_Union[OwnerSettings, _Mapping]] = ...) -> None: ...

class UpdateOwnerSettingsRequest(_message.Message):
    __slots__ = ("owner_id", "settings")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    settings: OwnerSettings
    def __init__(self, owner_id: _Optional[str] = ..., settings: _Optional[_Union[OwnerSettings, _Mapping]] = ...) -> None: ...

class UpdateOwnerSettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: OwnerSettings
    def __init__(self, settings: _Optional[_Union[OwnerSettings, _Mapping]] = ...) -> None: ...

class GenerateBriefRequest(_message.Message):
    __slots__ = ("owner_id", "kind", "at", "with_narrative")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    WITH_NARRATIVE_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    kind: BriefKind
    at: _timestamp_pb2.Timestamp
    with_narrative: bool
    def __init__(self, owner_id: _Optional[str] = ..., kind: _Optional[_Union[BriefKind, str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., with_narrative: _Optional[bool] = ...) -> None: ...

class GenerateBriefResponse(_message.Message):
    __slots__ = ("brief",)
    BRIEF_FIELD_NUMBER: _ClassVar[int]
    brief: Brief
    def __init__(self, brief: _Optional[_Union[Brief, _Mapping]] = ...) -> None: ...

class GetBriefRequest(_message.Message):
    __slots__ = ("owner_id", "date", "kind")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    date: str
    kind: BriefKind
    def __init__(self, owner_id: _Optional[str] = ..., date: _Optional[str] = ..., kind: _Optional[_Union[BriefKind, str]] = ...) -> None: ...

class GetBriefResponse(_message.Message):
    __slots__ = ("brief",)
    BRIEF_FIELD_NUMBER: _ClassVar[int]
    brief: Brief
    def __init__(self, brief: _Optional[_Union[Brief, _Mapping]] = ...) -> None: ...

class ListBriefsRequest(_message.Message):
    __slots__ = ("owner_id", "kind", "start_date", "end_date", "page_size", "page_token")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    kind: BriefKind
    start_date: _date_pb2.Date
    end_date: _date_pb2.Date
    page_size: int
    page_token: str
    def __init__(self, owner_id: _Optional[str] = ..., kind: _Optional[_Union[BriefKind, str]] = ..., start_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBriefsResponse(_message.Message):
    __slots__ = ("briefs", "next_page_token")
    BRIEFS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    briefs: _containers.RepeatedCompositeFieldContainer[Brief]
    next_page_token: str
    def __init__(self, briefs: _Optional[_Iterable[_Union[Brief, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchBriefsRequest(_message.Message):
    __slots__ = ("owner_id", "kinds", "since")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    kinds: _containers.RepeatedScalarFieldContainer[BriefKind]
    since: _timestamp_pb2.Timestamp
    def __init__(self, owner_id: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[BriefKind, str]]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchBriefsResponse(_message.Message):
    __slots__ = ("brief",)
    BRIEF_FIELD_NUMBER: _ClassVar[int]
    brief: Brief
    def __init__(self, brief: _Optional[_Union[Brief, _Mapping]] = ...) -> None: ...
