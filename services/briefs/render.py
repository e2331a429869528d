"""Plain-text rendering of briefs, in the owner's time zone (template only; the
LLM narrative is separate and optional)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.briefs.model import (
    AfternoonBrief,
    Brief,
    BriefContent,
    BriefKind,
    CalendarEvent,
    EveningBrief,
    MorningBrief,
    NarrativeStatus,
    PriorityReason,
    Task,
)
from services.briefs.money import format_money

_NARRATIVE_SKIPPED = {
    NarrativeStatus.SKIPPED_ROUTER_UNAVAILABLE: "(Narrative skipped: the router was unavailable.)",
    NarrativeStatus.SKIPPED_DEADLINE: "(Narrative skipped: the router did not answer in time.)",
}


def duration(value: timedelta) -> str:
    """"2d 3h", "1h 05m", "45m", "0m"."""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def title(kind: BriefKind, day: date, tz: str) -> str:
    return f"{kind.label.capitalize()} brief — {long_date(day)} ({tz})"


class _Local:
    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def hm(self, instant: datetime) -> str:
        return instant.astimezone(self.tz).strftime("%H:%M")

    def when(self, instant: datetime) -> str:
        local = instant.astimezone(self.tz)
        return f"{local:%a} {local.day} {local:%b %H:%M}"

    def event(self, e: CalendarEvent) -> str:
        span = f"{'all day':<11}" if e.all_day else f"{self.hm(e.start_at)}–{self.hm(e.end_at)}"
        where = f" ({e.location})" if e.location else ""
        return f"  {span}  {e.title}{where}"

    def task(self, t: Task) -> str:
        due = f" (due {self.when(t.due_at)})" if t.due_at else ""
        return f"{t.priority.name:<6}  {t.title}{due}"


def _morning(c: MorningBrief, fmt: _Local) -> list[str]:
    lines = ["Agenda"]
    lines += [fmt.event(e) for e in c.events] or ["  nothing scheduled"]
    if c.free_slots:
        lines.append("Free slots")
        lines += [f"  {fmt.hm(s.start_at)}–{fmt.hm(s.end_at)}  ({duration(s.duration)})" for s in c.free_slots]
    lines.append("Top priorities")
    for p in c.top_priorities:
        tag = f"overdue {duration(p.overdue_by)}" if p.reason == PriorityReason.OVERDUE and p.overdue_by else "due today"
        lines.append(f"  [{tag}] {fmt.task(p.task)}")
    if not c.top_priorities:
        lines.append("  nothing overdue or due today")
    lines.append("Outreach opportunities")
    for i, o in enumerate(c.top_opportunities, 1):
        who = f" — {o.contact.name}" + (f" ({o.contact.company})" if o.contact.company else "") if o.contact else ""
        ev = f" [{format_money(o.expected_value)}]" if o.expected_value else ""
        lines.append(f"  {i}. {o.deal.title}{who}{ev}: {o.reason}")
        rate = round(o.suggested_channel_response_rate * 100)
        lines.append(f"     → {o.suggested_next_step} ({o.suggested_channel.name.lower()} answers ~{rate}%)")
    if not c.top_opportunities:
        lines.append("  no open deals")
    return lines


def _afternoon(c: AfternoonBrief, fmt: _Local) -> list[str]:
    done_due = round(c.progress_percent * len(c.tasks_due_today) / 100)
    lines = [
        f"Progress: {done_due} of {len(c.tasks_due_today)} tasks due today done ({c.progress_percent:.0f}%)"
        if c.tasks_due_today
        else "Progress: no tasks due today"
    ]
    lines.append("Wins")
    lines += [f"  ✓ {t.title} ({fmt.hm(t.completed_at)})" for t in c.completed_tasks if t.completed_at]
    lines += [f"  ↑ {w.deal.title}: {w.from_stage.label} → {w.to_stage.label}" for w in c.deal_wins]
    if not c.completed_tasks and not c.deal_wins:
        lines.append("  none yet")
    lines.append("Blockers")
    lines += [f"  overdue {duration(o.overdue_by)}: {fmt.task(o.task)}" for o in c.overdue_tasks]
    for s in c.stale_deals:
        who = f" ({s.contact.name})" if s.contact else ""
        lines.append(f"  no contact for {s.days_since_contact} days: {s.deal.title}{who}")
    if not c.overdue_tasks and not c.stale_deals:
        lines.append("  none")
    return lines


def _evening(c: EveningBrief, fmt: _Local) -> list[str]:
    s = c.summary
    lines = [
        f"Today: {s.events} events, {s.tasks_completed} tasks completed ({s.tasks_due} due), "
        f"{s.tasks_overdue} overdue, {s.outreach_logged} outreach ({s.outreach_responses} responses), "
        f"deals: {s.deals_advanced} advanced, {s.deals_won} won, {s.deals_lost} lost"
    ]
    ts = c.time_saved
    if ts.learning_unavailable:
        lines.append(f"Time saved: {duration(ts.total)} from tasks (learning service unavailable: AI time not counted)")
    else:
        lines.append(
            f"Time saved: {duration(ts.total)} (AI: {duration(ts.from_interactions)} over "
            f"{ts.interactions} requests; tasks: {duration(ts.from_tasks)})"
        )
    lines.append(f"Tomorrow, {long_date(c.tomorrow)}")
    lines += [fmt.event(e) for e in c.tomorrow_events] or ["  no events"]
    lines += [f"  task: {fmt.task(t)}" for t in c.tomorrow_tasks] or ["  no tasks due"]
    return lines


def render(kind: BriefKind, content: BriefContent, day: date, tz_name: str) -> str:
    fmt = _Local(ZoneInfo(tz_name))
    if isinstance(content, MorningBrief):
        body = _morning(content, fmt)
    elif isinstance(content, AfternoonBrief):
        body = _afternoon(content, fmt)
    else:
        body = _evening(content, fmt)
    return "\n".join([title(kind, day, tz_name), "", *body])


def message_text(brief: Brief) -> str:
    """What a sink receives: the narrative (or why it is missing), then the text."""
    if brief.narrative_status == NarrativeStatus.INCLUDED and brief.narrative:
        return f"{brief.text}\n\n{brief.narrative.strip()}"
    if brief.narrative_status in _NARRATIVE_SKIPPED:
        return f"{brief.text}\n\n{_NARRATIVE_SKIPPED[brief.narrative_status]}"
    return brief.text
