"""Protobuf ↔ domain conversion for the servicer (no gRPC here, only messages).

Input conversion also checks what only the wire can get wrong (unset required
messages, partial dates, out-of-range enum numbers) and reports field paths.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from google.type import date_pb2, timeofday_pb2

from services.briefs import validate
from services.briefs.model import (
    DEFAULT_STALE_DEAL_DAYS,
    DEFAULT_TIMES,
    AfternoonBrief,
    Brief,
    BriefKind,
    CalendarEvent,
    CalendarImportResult,
    Contact,
    CsvImportResult,
    DaySummary,
    Deal,
    DealStage,
    Delivery,
    EveningBrief,
    FreeSlot,
    Money,
    MorningBrief,
    OutreachChannel,
    OutreachEntry,
    OutreachOpportunity,
    OutreachOutcome,
    OwnerSettings,
    PriorityTask,
    Sink,
    Task,
    TaskPriority,
    TaskStatus,
    TimeSaved,
)
from switchboard.briefs.v1 import briefs_pb2 as pb
from switchboard.runtime.status import FieldViolation, InvalidArgument

# --- scalars -----------------------------------------------------------------------


def ts_in(msg: Any, name: str, path: str = "") -> datetime | None:
    if not msg.HasField(name):
        return None
    try:
        return getattr(msg, name).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument([FieldViolation(path or name, "not a valid timestamp")]) from None


def ts_out(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def dur_out(value: timedelta | None) -> Duration | None:
    if value is None:
        return None
    out = Duration()
    out.FromTimedelta(value)
    return out


def date_out(value: date | None) -> date_pb2.Date | None:
    return None if value is None else date_pb2.Date(year=value.year, month=value.month, day=value.day)


def date_in(msg: date_pb2.Date, name: str, violations: list[FieldViolation]) -> date | None:
    """A full calendar date; the all-zero Date counts as unset."""
    if msg.year == 0 and msg.month == 0 and msg.day == 0:
        return None
    try:
        return date(msg.year, msg.month, msg.day)
    except ValueError:
        violations.append(FieldViolation(name, "must be a full valid date (year, month and day)"))
        return None


def enum_in(enum: Any, number: int, name: str, violations: list[FieldViolation]) -> Any:
    try:
        return enum(number)
    except ValueError:
        violations.append(FieldViolation(name, f"unknown value {number}"))
        return enum(0)


def time_out(value: time) -> timeofday_pb2.TimeOfDay:
    return timeofday_pb2.TimeOfDay(hours=value.hour, minutes=value.minute, seconds=value.second)


# --- entities in --------------------------------------------------------------------------


def contact_in(msg: pb.Contact) -> Contact:
    return Contact(
        id=msg.id, owner_id="", name=msg.name.strip(), email=msg.email.strip(), company=msg.company.strip(),
        phone=msg.phone.strip(), time_zone=msg.time_zone.strip(), notes=msg.notes,
    )


def deal_in(msg: pb.Deal, violations: list[FieldViolation], prefix: str = "deal") -> Deal:
    value = None
    if msg.HasField("value"):
        value = Money(msg.value.minor_units, msg.value.currency_code)
    return Deal(
        id=msg.id,
        owner_id="",
        contact_id=msg.contact_id,
        title=msg.title.strip(),
        stage=enum_in(DealStage, msg.stage, f"{prefix}.stage", violations),
        value=value,
        probability=msg.probability,
        last_contact_at=ts_in(msg, "last_contact_at", f"{prefix}.last_contact_at"),
        next_step=msg.next_step,
        expected_close=date_in(msg.expected_close, f"{prefix}.expected_close", violations),
    )


def task_in(msg: pb.Task, violations: list[FieldViolation], prefix: str = "task") -> Task:
    return Task(
        id=msg.id,
        owner_id="",
        title=msg.title.strip(),
        due_at=ts_in(msg, "due_at", f"{prefix}.due_at"),
        priority=enum_in(TaskPriority, msg.priority, f"{prefix}.priority", violations),
        status=enum_in(TaskStatus, msg.status, f"{prefix}.status", violations),
        completed_at=ts_in(msg, "completed_at", f"{prefix}.completed_at"),
        estimated=msg.estimated.ToTimedelta() if msg.HasField("estimated") else None,
    )


def event_in(msg: pb.CalendarEvent, violations: list[FieldViolation], prefix: str = "event") -> CalendarEvent:
    start, end = ts_in(msg, "start_at", f"{prefix}.start_at"), ts_in(msg, "end_at", f"{prefix}.end_at")
    if start is None:
        violations.append(FieldViolation(f"{prefix}.start_at", "is required"))
    if end is None:
        violations.append(FieldViolation(f"{prefix}.end_at", "is required"))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return CalendarEvent(
        id=msg.id,
        owner_id="",
        title=msg.title.strip(),
        start_at=start or epoch,
        end_at=end or start or epoch,
        all_day=msg.all_day,
        attendees=[a.strip() for a in msg.attendees if a.strip()],
        location=msg.location.strip(),
    )


def outreach_in(msg: pb.OutreachEntry, now: datetime, violations: list[FieldViolation]) -> OutreachEntry:
    return OutreachEntry(
        id="",
        owner_id="",
        contact_id=msg.contact_id,
        channel=enum_in(OutreachChannel, msg.channel, "entry.channel", violations),
        outcome=enum_in(OutreachOutcome, msg.outcome, "entry.outcome", violations),
        at=ts_in(msg, "at", "entry.at") or now,
        deal_id=msg.deal_id if msg.HasField("deal_id") and msg.deal_id else None,
        note=msg.note,
    )


def settings_in(msg: pb.OwnerSettings, violations: list[FieldViolation]) -> OwnerSettings:
    times: dict[BriefKind, time] = {}
    for kind, name in ((BriefKind.MORNING, "morning_time"), (BriefKind.AFTERNOON, "afternoon_time"),
                       (BriefKind.EVENING, "evening_time")):
        if msg.HasField(name):
            t = getattr(msg, name)
            value, problems = validate.time_of_day(t.hours, t.minutes, t.seconds, t.nanos, f"settings.{name}")
            violations.extend(problems)
            times[kind] = value or DEFAULT_TIMES[kind]
        else:
            times[kind] = DEFAULT_TIMES[kind]
    sinks = []
    for sink in msg.sinks:
        target = sink.WhichOneof("target")
        sinks.append(
            Sink(
                webhook_url=sink.webhook_url.strip() if target == "webhook_url" else "",
                email_address=sink.email_address.strip() if target == "email_address" else "",
            )
        )
    return OwnerSettings(
        owner_id="",
        time_zone=msg.time_zone.strip(),
        morning_time=times[BriefKind.MORNING],
        afternoon_time=times[BriefKind.AFTERNOON],
        evening_time=times[BriefKind.EVENING],
        sinks=sinks,
        narrative_enabled=msg.narrative_enabled,
        # 0 means the default; negatives are kept for validation to reject.
        stale_deal_days=msg.stale_deal_days if msg.stale_deal_days != 0 else DEFAULT_STALE_DEAL_DAYS,
    )


# --- entities out ----------------------------------------------------------------------------


def money_out(value: Money | None) -> pb.MoneyAmount | None:
    return None if value is None else pb.MoneyAmount(minor_units=value.minor_units, currency_code=value.currency)


def contact_out(c: Contact) -> pb.Contact:
    return pb.Contact(
        id=c.id, owner_id=c.owner_id, name=c.name, email=c.email, company=c.company, phone=c.phone,
        time_zone=c.time_zone, notes=c.notes, created_at=ts_out(c.created_at), updated_at=ts_out(c.updated_at),
    )


def deal_out(d: Deal) -> pb.Deal:
    return pb.Deal(
        id=d.id, owner_id=d.owner_id, contact_id=d.contact_id, title=d.title, value=money_out(d.value),
        stage=int(d.stage), probability=d.probability, last_contact_at=ts_out(d.last_contact_at),
        next_step=d.next_step, expected_close=date_out(d.expected_close),
        stage_changed_at=ts_out(d.stage_changed_at), created_at=ts_out(d.created_at),
        updated_at=ts_out(d.updated_at),
    )


def task_out(t: Task) -> pb.Task:
    return pb.Task(
        id=t.id, owner_id=t.owner_id, title=t.title, due_at=ts_out(t.due_at), priority=int(t.priority),
        status=int(t.status), completed_at=ts_out(t.completed_at), estimated=dur_out(t.estimated),
        created_at=ts_out(t.created_at), updated_at=ts_out(t.updated_at),
    )


def event_out(e: CalendarEvent) -> pb.CalendarEvent:
    return pb.CalendarEvent(
        id=e.id, owner_id=e.owner_id, title=e.title, start_at=ts_out(e.start_at), end_at=ts_out(e.end_at),
        all_day=e.all_day, attendees=e.attendees, location=e.location, source_uid=e.source_uid,
        recurrence_id=ts_out(e.recurrence_id), created_at=ts_out(e.created_at), updated_at=ts_out(e.updated_at),
    )


def outreach_out(o: OutreachEntry) -> pb.OutreachEntry:
    return pb.OutreachEntry(
        id=o.id, owner_id=o.owner_id, contact_id=o.contact_id, deal_id=o.deal_id, channel=int(o.channel),
        outcome=int(o.outcome), at=ts_out(o.at), note=o.note,
    )


def sink_out(s: Sink) -> pb.DeliverySink:
    return pb.DeliverySink(webhook_url=s.webhook_url) if s.webhook_url else pb.DeliverySink(email_address=s.email_address)


def settings_out(s: OwnerSettings) -> pb.OwnerSettings:
    return pb.OwnerSettings(
        owner_id=s.owner_id, time_zone=s.time_zone, morning_time=time_out(s.morning_time),
        afternoon_time=time_out(s.afternoon_time), evening_time=time_out(s.evening_time),
        sinks=[sink_out(x) for x in s.sinks], narrative_enabled=s.narrative_enabled,
        stale_deal_days=s.stale_deal_days, updated_at=ts_out(s.updated_at),
    )


def csv_result_out(r: CsvImportResult) -> dict[str, Any]:
    return {
        "imported": r.imported,
        "updated": r.updated,
        "errors": [pb.RowError(line=e.line, field=e.field, reason=e.reason) for e in r.errors],
    }


def calendar_result_out(r: CalendarImportResult) -> pb.ImportCalendarResponse:
    return pb.ImportCalendarResponse(
        imported=r.imported,
        updated=r.updated,
        problems=[
            pb.CalendarImportProblem(line=p.line, source_uid=p.source_uid, property=p.property, reason=p.reason)
            for p in r.problems
        ],
    )


# --- briefs out ----------------------------------------------------------------------------------


def _opportunity_out(o: OutreachOpportunity) -> pb.OutreachOpportunity:
    return pb.OutreachOpportunity(
        deal=deal_out(o.deal), contact=contact_out(o.contact) if o.contact else None,
        expected_value=money_out(o.expected_value), score=o.score, reason=o.reason,
        suggested_next_step=o.suggested_next_step, suggested_channel=int(o.suggested_channel),
        suggested_channel_response_rate=o.suggested_channel_response_rate,
        days_since_contact=o.days_since_contact,
    )


def _priority_out(p: PriorityTask) -> pb.PriorityTask:
    return pb.PriorityTask(task=task_out(p.task), reason=int(p.reason), overdue_by=dur_out(p.overdue_by))


def _slot_out(s: FreeSlot) -> pb.FreeSlot:
    return pb.FreeSlot(start_at=ts_out(s.start_at), end_at=ts_out(s.end_at), duration=dur_out(s.duration))


def morning_out(c: MorningBrief) -> pb.MorningBrief:
    return pb.MorningBrief(
        events=[event_out(e) for e in c.events],
        free_slots=[_slot_out(s) for s in c.free_slots],
        top_priorities=[_priority_out(p) for p in c.top_priorities],
        top_opportunities=[_opportunity_out(o) for o in c.top_opportunities],
    )


def afternoon_out(c: AfternoonBrief) -> pb.AfternoonBrief:
    return pb.AfternoonBrief(
        tasks_due_today=[task_out(t) for t in c.tasks_due_today],
        tasks_done_today=[task_out(t) for t in c.tasks_done_today],
        progress_percent=c.progress_percent,
        completed_tasks=[task_out(t) for t in c.completed_tasks],
        deal_wins=[pb.DealWin(deal=deal_out(w.deal), from_stage=int(w.from_stage), to_stage=int(w.to_stage))
                   for w in c.deal_wins],
        overdue_tasks=[pb.OverdueTask(task=task_out(o.task), overdue_by=dur_out(o.overdue_by)) for o in c.overdue_tasks],
        stale_deals=[
            pb.StaleDeal(deal=deal_out(s.deal), contact=contact_out(s.contact) if s.contact else None,
                         days_since_contact=s.days_since_contact)
            for s in c.stale_deals
        ],
    )


def _summary_out(s: DaySummary) -> pb.DaySummary:
    return pb.DaySummary(
        events=s.events, tasks_due=s.tasks_due, tasks_completed=s.tasks_completed, tasks_overdue=s.tasks_overdue,
        outreach_logged=s.outreach_logged, outreach_responses=s.outreach_responses,
        deals_advanced=s.deals_advanced, deals_won=s.deals_won, deals_lost=s.deals_lost,
    )


def _time_saved_out(t: TimeSaved) -> pb.TimeSaved:
    return pb.TimeSaved(
        total=dur_out(t.total), from_interactions=dur_out(t.from_interactions), from_tasks=dur_out(t.from_tasks),
        interactions=t.interactions, learning_unavailable=t.learning_unavailable,
    )


def evening_out(c: EveningBrief) -> pb.EveningBrief:
    return pb.EveningBrief(
        summary=_summary_out(c.summary), time_saved=_time_saved_out(c.time_saved), tomorrow=date_out(c.tomorrow),
        tomorrow_events=[event_out(e) for e in c.tomorrow_events],
        tomorrow_tasks=[task_out(t) for t in c.tomorrow_tasks],
    )


def delivery_out(d: Delivery) -> pb.Delivery:
    return pb.Delivery(
        sink=sink_out(d.sink), status=int(d.status), attempts=d.attempts, last_error=d.last_error,
        delivered_at=ts_out(d.delivered_at), next_attempt_at=ts_out(d.next_attempt_at),
    )


def brief_out(b: Brief) -> pb.Brief:
    msg = pb.Brief(
        id=b.id, owner_id=b.owner_id, kind=int(b.kind), date=date_out(b.date), as_of=ts_out(b.as_of),
        generated_at=ts_out(b.generated_at), time_zone=b.time_zone, text=b.text, narrative=b.narrative,
        narrative_status=int(b.narrative_status), deliveries=[delivery_out(d) for d in b.deliveries],
    )
    if isinstance(b.content, MorningBrief):
        msg.morning.CopyFrom(morning_out(b.content))
    elif isinstance(b.content, AfternoonBrief):
        msg.afternoon.CopyFrom(afternoon_out(b.content))
    else:
        msg.evening.CopyFrom(evening_out(b.content))
    return msg
