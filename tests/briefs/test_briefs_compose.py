"""Fixed data sets with known answers for the three briefs (pure computation)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.briefs import compose
from services.briefs.compose import InteractionTime
from services.briefs.model import (
    BriefKind,
    CalendarEvent,
    Contact,
    Deal,
    DealStage,
    Money,
    OutreachChannel,
    OutreachEntry,
    OutreachOutcome,
    OwnerSettings,
    PriorityReason,
    Snapshot,
    StageChange,
    Task,
    TaskPriority,
    TaskStatus,
)
from services.briefs.money import expected_value, format_money, parse_major
from services.briefs.ranking import OutreachRates
from services.briefs.render import render

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def local(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz).astimezone(UTC)


def ny(d: int, h: int = 0, mi: int = 0) -> datetime:
    return local(NY, 2026, 3, d, h, mi)


def event(id: str, start: datetime, end: datetime, all_day: bool = False) -> CalendarEvent:
    return CalendarEvent(id=id, owner_id="o", title=f"event {id}", start_at=start, end_at=end, all_day=all_day)


def task(id: str, due: datetime | None, priority: TaskPriority = TaskPriority.MEDIUM,
         status: TaskStatus = TaskStatus.OPEN, completed: datetime | None = None,
         estimated: timedelta | None = None) -> Task:
    return Task(id=id, owner_id="o", title=f"task {id}", due_at=due, priority=priority, status=status,
                completed_at=completed, estimated=estimated)


def deal(id: str, usd_cents: int | None, probability: float, stage: DealStage = DealStage.PROPOSAL,
         last_contact: datetime | None = None, close: date | None = None,
         created: datetime | None = None) -> Deal:
    return Deal(id=id, owner_id="o", contact_id=f"c-{id}", title=f"deal {id}", stage=stage,
                value=Money(usd_cents, "USD") if usd_cents is not None else None, probability=probability,
                last_contact_at=last_contact, expected_close=close,
                created_at=created or ny(1, 9))


def contacts_for(deals: list[Deal]) -> dict[str, Contact]:
    return {d.contact_id: Contact(id=d.contact_id, owner_id="o", name=f"Contact {d.id}") for d in deals}


# --- morning -----------------------------------------------------------------------------

MORNING_AT = ny(9, 7)  # Monday 2026-03-09 07:00 EDT = 11:00 UTC


def morning_data() -> Snapshot:
    deals = [
        deal("A", 1_000_000, 0.5, DealStage.NEGOTIATION, last_contact=MORNING_AT - timedelta(days=2),
             close=date(2026, 4, 18)),                                   # 5000 × 1.0667 × 1.0  = 5333
        deal("B", 400_000, 0.6, DealStage.PROPOSAL, last_contact=MORNING_AT - timedelta(days=30),
             close=date(2026, 3, 15)),                                   # 2400 × 2.0 × 1.4     = 6720
        deal("C", 2_000_000, 0.1, DealStage.LEAD),                       # 2000 × 2.0 × 1.0     = 4000
        deal("F", 333_333, 0.5, DealStage.QUALIFIED, last_contact=MORNING_AT - timedelta(days=10),
             close=date(2026, 3, 6)),                                    # 1666.66 × 1.33 × 1.5 = 3333
        deal("W", 99_000_000, 0.9, DealStage.WON),                       # closed: never ranked
        deal("L", 99_000_000, 0.9, DealStage.LOST),
    ]
    return Snapshot(
        contacts=contacts_for(deals),
        deals=deals,
        events=[
            event("e1", ny(9, 9), ny(9, 10)),
            event("e2", ny(9, 9, 30), ny(9, 11)),           # overlaps e1: merged
            event("e3", ny(9, 13), ny(9, 14)),
            event("e4", ny(9, 15, 30), ny(9, 16)),
            event("e5", ny(9), ny(10), all_day=True),        # all-day: listed first, no slots
            event("e6", ny(8, 22), ny(8, 23)),               # yesterday evening
            event("e7", ny(10, 8), ny(10, 9)),               # tomorrow
        ],
        tasks=[
            task("t1", ny(8, 18), TaskPriority.URGENT),                  # overdue 13h
            task("t2", ny(9, 6), TaskPriority.LOW),                      # overdue 1h
            task("t3", ny(9, 17), TaskPriority.HIGH),                    # due today
            task("t4", ny(9, 12), TaskPriority.MEDIUM),                  # due today
            task("t5", ny(10, 9), TaskPriority.URGENT),                  # tomorrow
            task("t6", ny(9, 12), TaskPriority.URGENT, TaskStatus.DONE, completed=ny(9, 6)),
            task("t7", ny(8, 12), TaskPriority.URGENT, TaskStatus.CANCELLED),
            task("t8", ny(9, 23, 30), TaskPriority.URGENT, TaskStatus.IN_PROGRESS),  # 03:30Z tomorrow, still today
            task("t9", None, TaskPriority.URGENT),                       # no due time: never listed
        ],
    )


def test_morning_agenda_free_slots_and_priorities() -> None:
    snap = morning_data()
    brief = compose.morning(snap, MORNING_AT, NY, OutreachRates([], MORNING_AT, 30))
    assert [e.id for e in brief.events] == ["e5", "e1", "e2", "e3", "e4"]
    assert [(s.start_at, s.end_at) for s in brief.free_slots] == [(ny(9, 11), ny(9, 13)), (ny(9, 14), ny(9, 15, 30))]
    assert [s.duration for s in brief.free_slots] == [timedelta(hours=2), timedelta(hours=1, minutes=30)]
    assert [(p.task.id, p.reason) for p in brief.top_priorities] == [
        ("t1", PriorityReason.OVERDUE),
        ("t2", PriorityReason.OVERDUE),
        ("t8", PriorityReason.DUE_TODAY),
        ("t3", PriorityReason.DUE_TODAY),
        ("t4", PriorityReason.DUE_TODAY),
    ]
    assert brief.top_priorities[0].overdue_by == timedelta(hours=13)
    assert brief.top_priorities[1].overdue_by == timedelta(hours=1)
    assert brief.top_priorities[2].overdue_by is None


def test_morning_ranking_without_history() -> None:
    snap = morning_data()
    brief = compose.morning(snap, MORNING_AT, NY, OutreachRates([], MORNING_AT, 30))
    top = brief.top_opportunities
    assert [o.deal.id for o in top] == ["B", "A", "C"]
    assert [o.expected_value for o in top] == [Money(240_000, "USD"), Money(500_000, "USD"), Money(200_000, "USD")]
    assert top[0].score == pytest.approx(2400 * 2.0 * 1.4)
    assert top[1].score == pytest.approx(5000 * (1 + 2 / 30))
    assert top[2].score == pytest.approx(2000 * 2.0)
    assert [o.days_since_contact for o in top] == [30, 2, -1]
    assert top[0].reason == "no contact for 30 days, closes in 6 days"
    assert top[2].reason == "never contacted"
    # No history: every channel has the prior; the tie goes to email.
    assert top[0].suggested_channel == OutreachChannel.EMAIL
    assert top[0].suggested_channel_response_rate == pytest.approx(0.3)
    assert top[0].suggested_next_step == "Email Contact B: follow up on the proposal"


def test_revenue_loop_lifts_stage_with_responsive_channel() -> None:
    snap = morning_data()
    # Six recent phone calls at LEAD stage, all of which advanced the deal.
    history = [
        OutreachEntry(id=f"h{i}", owner_id="o", contact_id="c-x", channel=OutreachChannel.PHONE,
                      outcome=OutreachOutcome.ADVANCED, at=MORNING_AT, deal_id="x", deal_stage=DealStage.LEAD)
        for i in range(6)
    ]
    rates = OutreachRates(history, MORNING_AT, 30)
    assert rates.channel_response(OutreachChannel.PHONE) == pytest.approx((0.3 * 2 + 6) / 8)
    assert rates.response(OutreachChannel.PHONE, DealStage.LEAD) == pytest.approx((0.825 * 2 + 6) / 8)
    assert rates.advance(DealStage.LEAD) == pytest.approx((0.1 * 2 + 6) / 8)
    brief = compose.morning(snap, MORNING_AT, NY, rates)
    top = brief.top_opportunities
    lead_factor = (0.5 + 0.95625) / 0.8 * (0.5 + 0.775) / 0.6
    other_factor = (0.5 + 0.825) / 0.8
    assert [o.deal.id for o in top] == ["C", "B", "A"]
    assert top[0].score == pytest.approx(4000 * lead_factor)
    assert top[1].score == pytest.approx(6720 * other_factor)
    assert all(o.suggested_channel == OutreachChannel.PHONE for o in top)
    assert top[0].suggested_channel_response_rate == pytest.approx(0.95625)


def test_outcome_weights_decay_with_half_life() -> None:
    at = MORNING_AT
    entries = [
        OutreachEntry(id="r", owner_id="o", contact_id="c", channel=OutreachChannel.EMAIL,
                      outcome=OutreachOutcome.REPLIED, at=at - timedelta(days=30)),   # weight 0.5
        OutreachEntry(id="s", owner_id="o", contact_id="c", channel=OutreachChannel.EMAIL,
                      outcome=OutreachOutcome.SENT, at=at - timedelta(days=60)),      # weight 0.25
        OutreachEntry(id="future", owner_id="o", contact_id="c", channel=OutreachChannel.EMAIL,
                      outcome=OutreachOutcome.SENT, at=at + timedelta(hours=1)),       # not known yet
    ]
    rates = OutreachRates(entries, at, half_life_days=30)
    assert rates.channel_response(OutreachChannel.EMAIL) == pytest.approx((0.3 * 2 + 0.5) / (2 + 0.75))


def test_money_rounding_is_half_even_in_minor_units() -> None:
    assert expected_value(Money(333_333, "USD"), 0.5) == Money(166_666, "USD")  # 166666.5 → even
    assert expected_value(Money(333_335, "USD"), 0.5) == Money(166_668, "USD")  # 166667.5 → even
    assert expected_value(Money(501, "JPY"), 0.5) == Money(250, "JPY")
    assert format_money(Money(123_456, "USD")) == "1,234.56 USD"
    assert format_money(Money(500, "JPY")) == "500 JPY"
    assert format_money(Money(1_234_567, "KWD")) == "1,234.567 KWD"
    assert parse_major("1250.50", "USD") == 125_050
    assert parse_major("500", "JPY") == 500
    with pytest.raises(ValueError):
        parse_major("12.5", "JPY")


# --- afternoon --------------------------------------------------------------------------------

AFTERNOON_AT = ny(9, 13)  # 17:00 UTC


def afternoon_data() -> Snapshot:
    deals = [
        deal("X", 100_000, 0.5, DealStage.NEGOTIATION, last_contact=ny(9, 9)),
        deal("Y", 100_000, 1.0, DealStage.WON, last_contact=ny(9, 9)),
        deal("Z", 100_000, 0.0, DealStage.LOST, last_contact=ny(9, 9)),
        deal("V", 100_000, 0.3, DealStage.QUALIFIED, last_contact=ny(9, 9), created=ny(9, 8)),
        deal("U", 100_000, 0.7, DealStage.NEGOTIATION, last_contact=ny(9, 9)),
        deal("S1", 100_000, 0.2, DealStage.LEAD, last_contact=AFTERNOON_AT - timedelta(days=20)),
        deal("S2", 100_000, 0.2, DealStage.LEAD, created=AFTERNOON_AT - timedelta(days=30)),
        deal("S3", 100_000, 0.2, DealStage.LEAD, last_contact=AFTERNOON_AT - timedelta(days=3)),
    ]
    return Snapshot(
        contacts=contacts_for(deals),
        deals=deals,
        tasks=[
            task("a", ny(9, 9), status=TaskStatus.DONE, completed=ny(9, 8, 30)),
            task("b", ny(9, 12), status=TaskStatus.DONE, completed=ny(9, 12, 30)),
            task("c", ny(9, 16)),
            task("d", ny(9, 10), status=TaskStatus.CANCELLED),
            task("e", ny(9, 11), status=TaskStatus.DONE, completed=ny(9, 14)),  # done after `at`
            task("f", None, status=TaskStatus.DONE, completed=ny(9, 10)),
            task("g", ny(8, 9)),
            task("h", ny(8, 9), status=TaskStatus.DONE, completed=ny(8, 10)),   # done yesterday
        ],
        stage_changes=[
            StageChange("X", DealStage.PROPOSAL, DealStage.NEGOTIATION, ny(9, 10)),
            StageChange("Y", DealStage.NEGOTIATION, DealStage.WON, ny(9, 11)),
            StageChange("Z", DealStage.QUALIFIED, DealStage.LOST, ny(9, 11, 30)),
            StageChange("V", DealStage.UNSPECIFIED, DealStage.LEAD, ny(9, 8)),
            StageChange("V", DealStage.LEAD, DealStage.QUALIFIED, ny(9, 12)),
            StageChange("U", DealStage.PROPOSAL, DealStage.NEGOTIATION, ny(9, 15)),  # after `at`
            StageChange("X", DealStage.LEAD, DealStage.PROPOSAL, ny(8, 10)),         # yesterday
        ],
    )


def test_afternoon_progress_wins_and_blockers() -> None:
    settings = OwnerSettings(owner_id="o", time_zone="America/New_York", stale_deal_days=14)
    brief = compose.afternoon(afternoon_data(), AFTERNOON_AT, NY, settings)
    assert [t.id for t in brief.tasks_due_today] == ["a", "e", "b", "c"]
    assert brief.progress_percent == pytest.approx(50.0)  # a and b of a, e, b, c
    assert [t.id for t in brief.tasks_done_today] == ["a", "f", "b"]
    assert [t.id for t in brief.completed_tasks] == ["a", "f", "b"]
    assert [(w.deal.id, w.from_stage, w.to_stage) for w in brief.deal_wins] == [
        ("X", DealStage.PROPOSAL, DealStage.NEGOTIATION),
        ("Y", DealStage.NEGOTIATION, DealStage.WON),
        ("V", DealStage.LEAD, DealStage.QUALIFIED),
    ]
    assert [(o.task.id, o.overdue_by) for o in brief.overdue_tasks] == [
        ("g", timedelta(days=1, hours=4)),
        ("e", timedelta(hours=2)),
    ]
    assert [(s.deal.id, s.days_since_contact) for s in brief.stale_deals] == [("S2", 30), ("S1", 20)]


def test_afternoon_progress_is_zero_without_due_tasks() -> None:
    settings = OwnerSettings(owner_id="o")
    brief = compose.afternoon(Snapshot(), AFTERNOON_AT, NY, settings)
    assert brief.progress_percent == 0.0
    assert "no tasks due today" in render(BriefKind.AFTERNOON, brief, date(2026, 3, 9), "America/New_York")


# --- evening ----------------------------------------------------------------------------------------

EVENING_AT = ny(9, 17)


def evening_data() -> Snapshot:
    snap = afternoon_data()
    snap.tasks += [
        task("m1", ny(10, 9), TaskPriority.LOW),
        task("m2", ny(10, 15), TaskPriority.URGENT),
        task("m3", ny(10, 11), TaskPriority.URGENT),
        task("m4", ny(10, 10), TaskPriority.HIGH, TaskStatus.CANCELLED),
        task("m5", ny(11, 10), TaskPriority.HIGH),  # the day after tomorrow
    ]
    snap.tasks = [
        t if t.id != "b" else task("b", ny(9, 12), status=TaskStatus.DONE, completed=ny(9, 12, 30),
                                   estimated=timedelta(minutes=45))
        for t in snap.tasks
    ]
    snap.tasks.append(task("est", None, status=TaskStatus.DONE, completed=ny(9, 15), estimated=timedelta(minutes=30)))
    snap.events = [
        event("today", ny(9, 9), ny(9, 10)),
        event("tomorrow-late", ny(10, 16), ny(10, 17)),
        event("tomorrow-all", ny(10), ny(11), all_day=True),
        event("tomorrow-early", ny(10, 8), ny(10, 9)),
    ]
    snap.outreach = [
        OutreachEntry(id="o1", owner_id="o", contact_id="c", channel=OutreachChannel.EMAIL,
                      outcome=OutreachOutcome.SENT, at=ny(9, 9)),
        OutreachEntry(id="o2", owner_id="o", contact_id="c", channel=OutreachChannel.PHONE,
                      outcome=OutreachOutcome.REPLIED, at=ny(9, 10)),
        OutreachEntry(id="o3", owner_id="o", contact_id="c", channel=OutreachChannel.PHONE,
                      outcome=OutreachOutcome.LOST, at=ny(9, 11)),
        OutreachEntry(id="o4", owner_id="o", contact_id="c", channel=OutreachChannel.EMAIL,
                      outcome=OutreachOutcome.REPLIED, at=ny(8, 11)),   # yesterday
    ]
    return snap


def test_evening_summary_time_saved_and_tomorrow() -> None:
    brief = compose.evening(evening_data(), EVENING_AT, NY, InteractionTime(timedelta(hours=1), 12))
    s = brief.summary
    assert (s.events, s.tasks_due, s.tasks_completed, s.tasks_overdue) == (1, 4, 5, 2)
    assert (s.outreach_logged, s.outreach_responses) == (3, 2)
    # X and V advanced, U advanced at 15:00 (before 17:00) too; Y won; Z lost.
    assert (s.deals_advanced, s.deals_won, s.deals_lost) == (3, 1, 1)
    ts = brief.time_saved
    assert ts.from_tasks == timedelta(minutes=75)
    assert ts.from_interactions == timedelta(hours=1)
    assert ts.total == timedelta(hours=2, minutes=15)
    assert (ts.interactions, ts.learning_unavailable) == (12, False)
    assert brief.tomorrow == date(2026, 3, 10)
    assert [e.id for e in brief.tomorrow_events] == ["tomorrow-all", "tomorrow-early", "tomorrow-late"]
    assert [t.id for t in brief.tomorrow_tasks] == ["m3", "m2", "m1"]


def test_evening_without_learning_counts_tasks_only() -> None:
    brief = compose.evening(evening_data(), EVENING_AT, NY, None)
    assert brief.time_saved.learning_unavailable is True
    assert brief.time_saved.total == timedelta(minutes=75)
    text = render(BriefKind.EVENING, brief, date(2026, 3, 9), "America/New_York")
    assert "learning service unavailable" in text


# --- time zones across DST changes ------------------------------------------------------------------------


def test_new_york_spring_forward_day_is_23_hours() -> None:
    day = compose.local_day(date(2026, 3, 8), NY)
    assert day.start == datetime(2026, 3, 8, 5, tzinfo=UTC)   # midnight EST
    assert day.end == datetime(2026, 3, 9, 4, tzinfo=UTC)     # midnight EDT
    assert day.end - day.start == timedelta(hours=23)
    at = datetime(2026, 3, 8, 11, tzinfo=UTC)                  # 07:00 EDT
    snap = Snapshot(
        events=[
            event("before", datetime(2026, 3, 8, 4, 30, tzinfo=UTC), datetime(2026, 3, 8, 4, 45, tzinfo=UTC)),  # 23:30 EST the 7th
            event("night", datetime(2026, 3, 8, 6, tzinfo=UTC), datetime(2026, 3, 8, 6, 30, tzinfo=UTC)),       # 01:00–01:30 EST
            event("after-jump", datetime(2026, 3, 8, 7, 30, tzinfo=UTC), datetime(2026, 3, 8, 8, tzinfo=UTC)),  # 03:30–04:00 EDT
            event("late", datetime(2026, 3, 9, 3, 30, tzinfo=UTC), datetime(2026, 3, 9, 3, 45, tzinfo=UTC)),    # 23:30 EDT the 8th
            event("next", datetime(2026, 3, 9, 4, 30, tzinfo=UTC), datetime(2026, 3, 9, 5, tzinfo=UTC)),        # 00:30 EDT the 9th
        ],
        tasks=[task("late-task", datetime(2026, 3, 9, 3, 59, tzinfo=UTC)), task("next-task", datetime(2026, 3, 9, 4, tzinfo=UTC))],
    )
    brief = compose.morning(snap, at, NY, OutreachRates([], at, 30))
    assert [e.id for e in brief.events] == ["night", "after-jump", "late"]
    # 01:30 EST → 03:30 EDT reads as two hours on the wall clock but is one real hour.
    assert brief.free_slots[0].duration == timedelta(hours=1)
    assert [p.task.id for p in brief.top_priorities] == ["late-task"]
    text = render(BriefKind.MORNING, brief, date(2026, 3, 8), "America/New_York")
    assert "01:00–01:30  event night" in text and "03:30–04:00  event after-jump" in text


def test_berlin_spring_forward_local_dates() -> None:
    day = compose.local_day(date(2026, 3, 29), BERLIN)
    assert (day.start, day.end) == (datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    # 23:30 UTC on the 28th is already the 29th in Berlin (CET, +1).
    assert compose.day_of(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), BERLIN).date == date(2026, 3, 29)
    assert compose.day_of(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), BERLIN).date == date(2026, 3, 30)


def test_all_day_event_uses_owner_midnights() -> None:
    # An all-day event on the 9th in New York ends at local midnight of the 10th.
    snap = Snapshot(events=[event("all", ny(9), ny(10), all_day=True)])
    assert [e.id for e in compose.events_on(snap.events, compose.local_day(date(2026, 3, 9), NY))] == ["all"]
    assert compose.events_on(snap.events, compose.local_day(date(2026, 3, 10), NY)) == []
    assert time(0) == ny(9).astimezone(NY).time()


def test_new_york_fall_back_day_is_25_hours_and_keeps_the_repeated_hour() -> None:
    day = compose.local_day(date(2026, 11, 1), NY)
    assert (day.start, day.end) == (datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 11, 2, 5, tzinfo=UTC))
    at = datetime(2026, 11, 1, 12, tzinfo=UTC)  # 07:00 EST
    snap = Snapshot(events=[
        event("first-0130", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 5, 45, tzinfo=UTC)),   # 01:30 EDT
        event("second-0130", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 45, tzinfo=UTC)),  # 01:30 EST
        event("late", datetime(2026, 11, 2, 4, 30, tzinfo=UTC), datetime(2026, 11, 2, 4, 45, tzinfo=UTC)),         # 23:30 EST
    ])
    brief = compose.morning(snap, at, NY, OutreachRates([], at, 30))
    assert [e.id for e in brief.events] == ["first-0130", "second-0130", "late"]
    # 01:45 EDT → 01:30 EST reads as a negative gap on the wall clock but is 45 real minutes.
    assert brief.free_slots[0].duration == timedelta(minutes=45)
