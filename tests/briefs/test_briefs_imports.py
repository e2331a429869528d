"""ICS import with recurrence (weekly RRULE, EXDATE, an override) and CSV
imports with bad rows, through the parser and into PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.briefs.csv_import import parse_contacts, parse_deals
from services.briefs.ics_import import parse_ics
from services.briefs.model import DealStage, Money, Scope
from services.briefs.paging import page_of
from services.briefs.store import BriefStore
from switchboard.runtime.status import InvalidArgument

BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")
SCOPE = Scope("acme", "ann")

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//switchboard tests//EN\r
BEGIN:VEVENT\r
UID:standup@example.com\r
SUMMARY:Standup\r
DTSTART;TZID=Europe/Berlin:20260302T090000\r
DTEND;TZID=Europe/Berlin:20260302T093000\r
RRULE:FREQ=WEEKLY;BYDAY=MO\r
EXDATE;TZID=Europe/Berlin:20260316T090000\r
ATTENDEE;CN=Ann:mailto:ann@example.com\r
ATTENDEE:mailto:bob@example.com\r
LOCATION:Room 1\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:standup@example.com\r
RECURRENCE-ID;TZID=Europe/Berlin:20260323T090000\r
SUMMARY:Standup (moved)\r
DTSTART;TZID=Europe/Berlin:20260323T100000\r
DTEND;TZID=Europe/Berlin:20260323T103000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:broken@example.com\r
SUMMARY:Broken start\r
DTSTART:notadate\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:holiday@example.com\r
SUMMARY:Holiday\r
DTSTART;VALUE=DATE:20260305\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:No uid\r
DTSTART:20260304T120000Z\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:lunch@example.com\r
SUMMARY:Lunch\r
DTSTART:20260304T120000\r
DURATION:PT1H\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:badrule@example.com\r
SUMMARY:Bad rule\r
DTSTART:20260302T090000Z\r
RRULE:FREQ=SOMETIMES\r
END:VEVENT\r
END:VCALENDAR\r
"""
WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def test_weekly_rule_expanded_in_window_with_exdate_and_override() -> None:
    parsed = parse_ics(ICS, BERLIN, *WINDOW)
    standups = sorted((e for e in parsed.events if e.source_uid == "standup@example.com"), key=lambda e: e.start_at)
    # Mondays in March: 2, 9, (16 excluded), 23 (moved to 10:00), 30 (CEST after the 29th).
    assert [(e.start_at, e.title) for e in standups] == [
        (datetime(2026, 3, 2, 8, 0, tzinfo=UTC), "Standup"),
        (datetime(2026, 3, 9, 8, 0, tzinfo=UTC), "Standup"),
        (datetime(2026, 3, 23, 9, 0, tzinfo=UTC), "Standup (moved)"),
        (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), "Standup"),
    ]
    assert [e.recurrence_id for e in standups] == [
        datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 9, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 23, 8, 0, tzinfo=UTC),  # the original start of the moved one
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
    ]
    assert standups[0].attendees == ["ann@example.com", "bob@example.com"]
    assert standups[0].location == "Room 1"
    assert all(e.end_at - e.start_at == timedelta(minutes=30) for e in standups)
    holiday = next(e for e in parsed.events if e.source_uid == "holiday@example.com")
    assert holiday.all_day and holiday.recurrence_id is None
    assert (holiday.start_at, holiday.end_at) == (datetime(2026, 3, 4, 23, tzinfo=UTC), datetime(2026, 3, 5, 23, tzinfo=UTC))
    lunch = next(e for e in parsed.events if e.source_uid == "lunch@example.com")
    # Floating time: the owner's wall clock (Berlin, UTC+1 in early March).
    assert (lunch.start_at, lunch.end_at) == (datetime(2026, 3, 4, 11, tzinfo=UTC), datetime(2026, 3, 4, 12, tzinfo=UTC))


def test_bad_components_reported_by_line_good_ones_kept() -> None:
    parsed = parse_ics(ICS, BERLIN, *WINDOW)
    assert [(p.line, p.source_uid, p.property) for p in parsed.problems] == [
        (22, "broken@example.com", "DTSTART"),
        (32, "", "UID"),
        (42, "badrule@example.com", "RRULE"),
    ]
    assert len(parsed.events) == 4 + 1 + 1


def test_not_a_calendar_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_ics("hello", BERLIN, *WINDOW)
    assert info.value.violations[0].field == "ics_text"


async def test_reimport_updates_instead_of_duplicating(store: BriefStore) -> None:
    parsed = parse_ics(ICS, BERLIN, *WINDOW)
    first = await store.import_events(SCOPE, parsed.events, parsed.problems)
    assert (first.imported, first.updated, len(first.problems)) == (6, 0, 3)
    again = parse_ics(ICS.replace("SUMMARY:Lunch", "SUMMARY:Long lunch"), BERLIN, *WINDOW)
    second = await store.import_events(SCOPE, again.events, again.problems)
    assert (second.imported, second.updated) == (0, 6)
    events, more = await store.list_events(SCOPE, None, None, page_of(0, "", "t"))
    assert not more and len(events) == 6
    assert "Long lunch" in [e.title for e in events]
    # A wider window adds April's occurrences and updates March's.
    wider = parse_ics(ICS, BERLIN, WINDOW[0], datetime(2026, 4, 15, tzinfo=UTC))
    third = await store.import_events(SCOPE, wider.events, wider.problems)
    assert (third.imported, third.updated) == (2, 6)  # 6 and 13 April


CONTACTS_CSV = (
    "Name,Email,Company,time_zone,Ignored\n"          # 1
    "Ann Lee,ann@example.com,Acme,Europe/Berlin,x\n"  # 2
    ",nobody@example.com,Acme,,x\n"                   # 3 no name
    "Bob,not-an-email,Initech,,x\n"                   # 4 bad email
    "\"Cara, the \"\"boss\"\"\",cara@example.com,\"Multi\nline Co\",,x\n"  # 5-6 quoted, spans two lines
    "Dan,dan@example.com,Hooli,Mars/Base,x\n"         # 7 bad zone
    "Eve,eve@example.com\n"                           # 8 too few fields
    "\n"                                              # 9 blank
    "ANN LEE,ANN@example.com,Acme Corp,,x\n"          # 10 same email: update
)


def test_contacts_csv_rows_and_line_numbers() -> None:
    rows, errors = parse_contacts(CONTACTS_CSV)
    assert [(line, c.name) for line, c in rows] == [(2, "Ann Lee"), (5, 'Cara, the "boss"'), (10, "ANN LEE")]
    assert rows[1][1].company == "Multi\nline Co"
    assert [(e.line, e.field) for e in errors] == [(3, "name"), (4, "email"), (7, "time_zone"), (8, "")]
    assert "expected 5 fields, found 2" in errors[3].reason


def test_csv_without_required_column_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_contacts("email,company\na@b.c,Acme\n")
    assert info.value.violations[0].field == "csv_text"
    with pytest.raises(InvalidArgument):
        parse_deals("")


async def test_csv_import_good_rows_land_bad_rows_reported(store: BriefStore) -> None:
    rows, errors = parse_contacts(CONTACTS_CSV)
    result = await store.import_contacts(SCOPE, rows, errors)
    assert (result.imported, result.updated) == (2, 1)
    assert [e.line for e in result.errors] == [3, 4, 7, 8]
    contacts, _ = await store.list_contacts(SCOPE, "", page_of(0, "", "c"))
    assert sorted(c.name for c in contacts) == ["ANN LEE", 'Cara, the "boss"']
    ann = next(c for c in contacts if c.email.lower() == "ann@example.com")
    cara = next(c for c in contacts if c.email == "cara@example.com")

    deals_csv = (
        "title,contact_email,contact_id,value,currency,stage,probability,last_contact_at,expected_close,next_step\n"
        f"Acme licence,ann@example.com,,1250.50,USD,proposal,0.6,2026-03-01T10:00:00Z,2026-03-20,Send terms\n"  # 2
        f"Cara pilot,,{cara.id},500000,JPY,QUALIFIED,0.25,,,\n"                                                 # 3
        "No contact,ghost@example.com,,10,USD,LEAD,0.5,,,\n"                                                 # 4
        "Bad money,ann@example.com,,12.345,USD,LEAD,0.5,,,\n"                                                # 5
        "Bad stage,ann@example.com,,10,USD,SIGNED,0.5,,,\n"                                                  # 6
        "Bad prob,ann@example.com,,10,USD,LEAD,1.5,,,\n"                                                     # 7
        "Bad time,ann@example.com,,10,USD,LEAD,0.5,2026-03-01 10:00,,\n"                                     # 8
        "No currency,ann@example.com,,10,,LEAD,0.5,,,\n"                                                     # 9
        ",ann@example.com,,10,USD,LEAD,0.5,,,\n"                                                             # 10
        "Bad date,ann@example.com,,10,USD,LEAD,0.5,,2026-02-30,\n"                                           # 11
    )
    rows2, errors2 = parse_deals(deals_csv)
    result2 = await store.import_deals(SCOPE, rows2, errors2)
    assert (result2.imported, result2.updated) == (2, 0)
    assert [(e.line, e.field) for e in result2.errors] == [
        (4, "contact_email"), (5, "value"), (6, "stage"), (7, "probability"), (8, "last_contact_at"),
        (9, "currency"), (10, "title"), (11, "expected_close"),
    ]
    deals, _ = await store.list_deals(SCOPE, [], "", page_of(0, "", "d"))
    by_title = {d.title: d for d in deals}
    acme = by_title["Acme licence"]
    assert acme.contact_id == ann.id and acme.value == Money(125_050, "USD") and acme.stage == DealStage.PROPOSAL
    assert acme.last_contact_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert by_title["Cara pilot"].value == Money(500_000, "JPY")


async def test_idempotency_key_replays_first_result(store: BriefStore) -> None:
    rows, errors = parse_contacts("name,email\nZed,zed@example.com\n")
    first = await store.import_contacts(SCOPE, rows, errors, idempotency_key="k1")
    second = await store.import_contacts(SCOPE, rows, errors, idempotency_key="k1")
    assert first == second and first.imported == 1
    contacts, _ = await store.list_contacts(SCOPE, "zed", page_of(0, "", "c"))
    assert len(contacts) == 1
    # Another owner is another key space.
    other = await store.import_contacts(Scope("acme", "bob"), rows, errors, idempotency_key="k1")
    assert other.imported == 1


def test_runaway_rule_is_capped_not_expanded_forever() -> None:
    ics = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n"
        "BEGIN:VEVENT\nUID:every-minute\nSUMMARY:Ping\nDTSTART:20260301T000000Z\nRRULE:FREQ=MINUTELY\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:fine\nSUMMARY:Fine\nDTSTART:20260302T090000Z\nEND:VEVENT\n"
        "END:VCALENDAR\n"
    )
    parsed = parse_ics(ics, BERLIN, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert [(p.source_uid, p.property) for p in parsed.problems] == [("every-minute", "RRULE")]
    assert [e.source_uid for e in parsed.events] == ["fine"]
