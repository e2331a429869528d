"""Pure brief computation: the owner's data as of an instant, in their time zone.

Nothing here does I/O or reads a clock; every function takes the data (a
`Snapshot`), the instant `at` and the owner's zone, so a fixed data set has one
known answer. "As of `at`" means later facts are ignored: a task completed
after `at` counts as still open, outreach logged after `at` is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.briefs.model import (
    DEFAULT_STALE_DEAL_DAYS,
    AfternoonBrief,
    CalendarEvent,
    DaySummary,
    DealStage,
    DealWin,
    EveningBrief,
    FreeSlot,
    MorningBrief,
    OverdueTask,
    OwnerSettings,
    PriorityReason,
    PriorityTask,
    Snapshot,
    StaleDeal,
    StageChange,
    Task,
    TaskStatus,
    TimeSaved,
)
from services.briefs.ranking import OutreachRates, days_since, rank_opportunities

TOP_OPPORTUNITIES = 3


@dataclass(frozen=True)
class Day:
    """One local date and the UTC instants it spans ([start, end); 23 or 25 hours
    on DST change days)."""

    date: date
    start: datetime
    end: datetime

    def contains(self, instant: datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end


def local_day(day: date, tz: ZoneInfo) -> Day:
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return Day(day, start, end)


def day_of(at: datetime, tz: ZoneInfo) -> Day:
    return local_day(at.astimezone(tz).date(), tz)


@dataclass(frozen=True)
class InteractionTime:
    """What the learning service reported for the day."""

    saved: timedelta
    interactions: int


# --- task and event helpers ------------------------------------------------------


def done_by(task: Task, at: datetime) -> bool:
    return task.status == TaskStatus.DONE and task.completed_at is not None and task.completed_at <= at


def open_at(task: Task, at: datetime) -> bool:
    """OPEN or IN_PROGRESS at `at` (a task completed later was still open then)."""
    if task.status in (TaskStatus.OPEN, TaskStatus.IN_PROGRESS):
        return True
    return task.status == TaskStatus.DONE and not done_by(task, at)


def events_on(events: Iterable[CalendarEvent], day: Day) -> list[CalendarEvent]:
    """Events overlapping the day (a zero-length event counts where it starts);
    all-day events first, then by start."""
    found = [
        e for e in events if e.start_at < day.end and (e.end_at > day.start or e.start_at >= day.start)
    ]
    return sorted(found, key=lambda e: (not e.all_day, e.start_at, e.id))


def free_slots(events: Sequence[CalendarEvent]) -> list[FreeSlot]:
    """Gaps between consecutive timed events, overlapping events merged."""
    timed = sorted((e for e in events if not e.all_day), key=lambda e: (e.start_at, e.end_at))
    slots: list[FreeSlot] = []
    busy_until: datetime | None = None
    for event in timed:
        if busy_until is not None and event.start_at > busy_until:
            slots.append(FreeSlot(busy_until, event.start_at))
        busy_until = event.end_at if busy_until is None else max(busy_until, event.end_at)
    return slots


def _due_on(tasks: Iterable[Task], day: Day) -> list[Task]:
    found = [t for t in tasks if t.status != TaskStatus.CANCELLED and day.contains(t.due_at)]
    return sorted(found, key=lambda t: (t.due_at, t.id))


def _done_on(tasks: Iterable[Task], day: Day, at: datetime) -> list[Task]:
    found = [t for t in tasks if done_by(t, at) and day.contains(t.completed_at)]
    return sorted(found, key=lambda t: (t.completed_at, t.id))


def _overdue(tasks: Iterable[Task], at: datetime) -> list[OverdueTask]:
    found = [t for t in tasks if open_at(t, at) and t.due_at is not None and t.due_at < at]
    found.sort(key=lambda t: (t.due_at, t.id))
    return [OverdueTask(t, at - t.due_at) for t in found]  # type: ignore[operator]


@dataclass(frozen=True)
class _NetChange:
    deal_id: str
    from_stage: DealStage
    to_stage: DealStage
    at: datetime


def _net_changes(changes: Iterable[StageChange], day: Day, at: datetime) -> list[_NetChange]:
    """Per deal, its stage before the day's first change and after the last one
    (by `at`). A deal created on the day starts from its first stage."""
    by_deal: dict[str, list[StageChange]] = {}
    for change in sorted(changes, key=lambda c: c.at):
        if day.contains(change.at) and change.at <= at:
            by_deal.setdefault(change.deal_id, []).append(change)
    net = []
    for deal_id, seq in by_deal.items():
        first = seq[0]
        start = first.from_stage if first.from_stage != DealStage.UNSPECIFIED else first.to_stage
        net.append(_NetChange(deal_id, start, seq[-1].to_stage, seq[-1].at))
    return sorted(net, key=lambda n: (n.at, n.deal_id))


def _advanced(change: _NetChange) -> bool:
    """Forward in the pipeline (WON included, LOST never)."""
    return change.to_stage != DealStage.LOST and change.to_stage > change.from_stage


# --- the three briefs ------------------------------------------------------------------


def morning(snap: Snapshot, at: datetime, tz: ZoneInfo, rates: OutreachRates) -> MorningBrief:
    day = day_of(at, tz)
    events = events_on(snap.events, day)
    priorities: list[PriorityTask] = []
    for task in snap.tasks:
        if not open_at(task, at) or task.due_at is None:
            continue
        if task.due_at < at:
            priorities.append(PriorityTask(task, PriorityReason.OVERDUE, at - task.due_at))
        elif task.due_at < day.end:
            priorities.append(PriorityTask(task, PriorityReason.DUE_TODAY))
    priorities.sort(key=lambda p: (p.reason != PriorityReason.OVERDUE, -p.task.priority, p.task.due_at, p.task.id))
    return MorningBrief(
        events=events,
        free_slots=free_slots(events),
        top_priorities=priorities,
        top_opportunities=rank_opportunities(snap.deals, snap.contacts, rates, at, day.date, TOP_OPPORTUNITIES),
    )


def afternoon(snap: Snapshot, at: datetime, tz: ZoneInfo, settings: OwnerSettings) -> AfternoonBrief:
    day = day_of(at, tz)
    due = _due_on(snap.tasks, day)
    done = _done_on(snap.tasks, day, at)
    progress = 100.0 * sum(1 for t in due if done_by(t, at)) / len(due) if due else 0.0
    deals = {d.id: d for d in snap.deals}
    wins = [
        DealWin(deals[c.deal_id], c.from_stage, c.to_stage)
        for c in _net_changes(snap.stage_changes, day, at)
        if _advanced(c) and c.deal_id in deals
    ]
    stale_days = settings.stale_deal_days or DEFAULT_STALE_DEAL_DAYS
    stale: list[StaleDeal] = []
    for deal in snap.deals:
        if not deal.stage.is_open:
            continue
        days = days_since(deal.last_contact_at or deal.created_at, at)
        if days >= stale_days:
            stale.append(StaleDeal(deal, snap.contacts.get(deal.contact_id), days))
    stale.sort(key=lambda s: (-s.days_since_contact, s.deal.id))
    return AfternoonBrief(
        tasks_due_today=due,
        tasks_done_today=done,
        progress_percent=progress,
        completed_tasks=list(done),
        deal_wins=wins,
        overdue_tasks=_overdue(snap.tasks, at),
        stale_deals=stale,
    )


def evening(
    snap: Snapshot, at: datetime, tz: ZoneInfo, interactions: InteractionTime | None
) -> EveningBrief:
    """`interactions` is None when the learning service could not be asked."""
    day = day_of(at, tz)
    due = _due_on(snap.tasks, day)
    done = _done_on(snap.tasks, day, at)
    outreach = [o for o in snap.outreach if day.contains(o.at) and o.at <= at]
    net = _net_changes(snap.stage_changes, day, at)
    summary = DaySummary(
        events=len(events_on(snap.events, day)),
        tasks_due=len(due),
        tasks_completed=len(done),
        tasks_overdue=len(_overdue(snap.tasks, at)),
        outreach_logged=len(outreach),
        outreach_responses=sum(1 for o in outreach if o.outcome.is_response),
        deals_advanced=sum(1 for c in net if _advanced(c) and c.to_stage != DealStage.WON),
        deals_won=sum(1 for c in net if c.to_stage == DealStage.WON and c.from_stage != DealStage.WON),
        deals_lost=sum(1 for c in net if c.to_stage == DealStage.LOST and c.from_stage != DealStage.LOST),
    )
    from_tasks = sum((t.estimated for t in done if t.estimated), timedelta(0))
    from_interactions = interactions.saved if interactions else timedelta(0)
    saved = TimeSaved(
        total=from_tasks + from_interactions,
        from_interactions=from_interactions,
        from_tasks=from_tasks,
        interactions=interactions.interactions if interactions else 0,
        learning_unavailable=interactions is None,
    )
    tomorrow = local_day(day.date + timedelta(days=1), tz)
    tomorrow_tasks = [t for t in snap.tasks if open_at(t, at) and tomorrow.contains(t.due_at)]
    tomorrow_tasks.sort(key=lambda t: (-t.priority, t.due_at, t.id))
    return EveningBrief(
        summary=summary,
        time_saved=saved,
        tomorrow=tomorrow.date,
        tomorrow_events=events_on(snap.events, tomorrow),
        tomorrow_tasks=tomorrow_tasks,
    )
