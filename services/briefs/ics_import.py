"""iCalendar (RFC 5545) import: `icalendar` parses, `recurring-ical-events`
expands RRULE/RDATE/EXDATE and RECURRENCE-ID overrides inside a window.

Each VEVENT is checked on its own, so one broken component is reported (with the
line of its BEGIN:VEVENT) while the rest still import. Times: TZID zones and UTC
are kept as instants; floating times and all-day DATE values are read in the
owner's zone (all-day events span local midnights).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from services.briefs.model import CalendarEvent, CalendarImportProblem
from switchboard.runtime.status import FieldViolation, InvalidArgument

UNTITLED = "(untitled)"
MAX_OCCURRENCES = 5000  # per recurring event, inside the window


@dataclass
class ParsedCalendar:
    events: list[CalendarEvent] = field(default_factory=list)
    problems: list[CalendarImportProblem] = field(default_factory=list)


class _Bad(Exception):
    def __init__(self, prop: str, reason: str) -> None:
        super().__init__(reason)
        self.prop = prop
        self.reason = reason


def _begin_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip().upper() == "BEGIN:VEVENT"]


def _instant(prop_name: str, component: Any, tz: ZoneInfo) -> tuple[datetime, bool]:
    """(UTC instant, is_all_day) of a DTSTART/DTEND/RECURRENCE-ID property."""
    prop = component.get(prop_name)
    try:
        value = prop.dt
    except Exception as exc:  # noqa: BLE001  (icalendar raises its own broken-property errors)
        raise _Bad(prop_name, f"unreadable value: {exc}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
            if tzid:
                raise _Bad(prop_name, f"unknown time zone {tzid!r} (no VTIMEZONE and not an IANA name)")
            value = value.replace(tzinfo=tz)  # floating time: the owner's wall clock
        return value.astimezone(UTC), False
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=tz).astimezone(UTC), True
    raise _Bad(prop_name, f"expected a date or date-time, got {type(value).__name__}")


def _attendees(component: Any) -> list[str]:
    raw = component.get("ATTENDEE")
    if raw is None:
        return []
    values = raw if isinstance(raw, list) else [raw]
    found = []
    for value in values:
        text = str(value)
        found.append(text[7:] if text.lower().startswith("mailto:") else text)
    return found


def _event(component: Any, tz: ZoneInfo, uid: str, recurring: bool) -> CalendarEvent:
    if "DTSTART" not in component:
        raise _Bad("DTSTART", "missing DTSTART")
    start, all_day = _instant("DTSTART", component, tz)
    if "DTEND" in component:
        end, _ = _instant("DTEND", component, tz)
    elif "DURATION" in component:
        try:
            length = component.get("DURATION").dt
        except Exception as exc:  # noqa: BLE001
            raise _Bad("DURATION", f"unreadable value: {exc}") from None
        if not isinstance(length, timedelta):
            raise _Bad("DURATION", "not a duration")
        end = start + length
    else:
        # RFC 5545 3.6.1: a DATE start lasts one day, a DATE-TIME start no time.
        end = _next_local_midnight(start, tz) if all_day else start
    if end < start:
        raise _Bad("DTEND", "ends before it starts")
    recurrence_id = None
    if recurring or "RECURRENCE-ID" in component:
        recurrence_id = _instant("RECURRENCE-ID", component, tz)[0] if "RECURRENCE-ID" in component else start
    return CalendarEvent(
        id="",
        owner_id="",
        title=str(component.get("SUMMARY", "")).strip() or UNTITLED,
        start_at=start,
        end_at=end,
        all_day=all_day,
        attendees=_attendees(component),
        location=str(component.get("LOCATION", "")).strip(),
        source_uid=uid,
        recurrence_id=recurrence_id,
    )


def _next_local_midnight(start: datetime, tz: ZoneInfo) -> datetime:
    day = start.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _check_errors(component: Any) -> None:
    for prop, message in getattr(component, "errors", []) or []:
        raise _Bad(str(prop), str(message))


def parse_ics(text: str, owner_tz: ZoneInfo, window_start: datetime, window_end: datetime) -> ParsedCalendar:
    """Events (one per occurrence of recurring ones inside the window) and problems.
    Raises InvalidArgument when the text is not an iCalendar at all."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise InvalidArgument([FieldViolation("ics_text", f"not iCalendar data: {exc}")]) from None
    if calendar.name != "VCALENDAR":
        raise InvalidArgument([FieldViolation("ics_text", f"expected a VCALENDAR, found {calendar.name}")])
    lines = _begin_lines(text)
    vevents = list(calendar.walk("VEVENT"))
    line_of = {id(c): (lines[i] if len(lines) == len(vevents) else 0) for i, c in enumerate(vevents)}
    timezones = list(calendar.walk("VTIMEZONE"))
    parsed = ParsedCalendar()

    def problem(component: Any, prop: str, reason: str) -> None:
        uid = str(component.get("UID", "")) if component.get("UID") is not None else ""
        parsed.problems.append(CalendarImportProblem(line_of.get(id(component), 0), uid, prop, reason))

    masters: dict[str, Any] = {}
    overrides: dict[str, list[Any]] = defaultdict(list)
    for component in vevents:
        try:
            _check_errors(component)
            if not str(component.get("UID", "")).strip():
                raise _Bad("UID", "missing UID")
        except _Bad as bad:
            problem(component, bad.prop, bad.reason)
            continue
        if str(component.get("STATUS", "")).upper() == "CANCELLED":
            continue
        uid = str(component.get("UID")).strip()
        if "RECURRENCE-ID" in component:
            overrides[uid].append(component)
        elif uid in masters:
            problem(component, "UID", "duplicate UID (a second VEVENT without RECURRENCE-ID)")
        else:
            masters[uid] = component

    for uid, master in masters.items():
        recurring = "RRULE" in master or "RDATE" in master
        if not recurring:
            try:
                parsed.events.append(_event(master, owner_tz, uid, recurring=False))
            except _Bad as bad:
                problem(master, bad.prop, bad.reason)
            continue
        try:
            _event(master, owner_tz, uid, recurring=True)  # the master itself must be sound
        except _Bad as bad:
            problem(master, bad.prop, bad.reason)
            continue
        single = icalendar.Calendar()
        for tz_component in timezones:
            single.add_component(tz_component)
        single.add_component(master)
        for override in overrides.pop(uid, []):
            single.add_component(override)
        try:
            found = []
            # A lazy walk in start order: a rule with millions of occurrences costs
            # no more than the window (and the cap) allows.
            for occurrence in recurring_ical_events.of(single).after(window_start):
                event = _event(occurrence, owner_tz, uid, recurring=True)
                if event.start_at >= window_end:
                    break
                if len(found) >= MAX_OCCURRENCES:
                    raise _Bad("RRULE", f"more than {MAX_OCCURRENCES} occurrences in the window")
                found.append(event)
        except _Bad as bad:
            problem(master, bad.prop, bad.reason)
            continue
        except Exception as exc:  # noqa: BLE001  (the expander's errors vary by rule)
            problem(master, "RRULE", f"cannot expand the recurrence: {exc}")
            continue
        parsed.events.extend(found)

    # Overrides whose master is not in this file: import them as they are.
    for uid, components in overrides.items():
        for component in components:
            try:
                parsed.events.append(_event(component, owner_tz, uid, recurring=True))
            except _Bad as bad:
                problem(component, bad.prop, bad.reason)
    parsed.problems.sort(key=lambda p: p.line)
    return parsed
