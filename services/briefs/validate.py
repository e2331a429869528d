"""Input validation shared by the RPCs and the CSV/ICS imports.

Each check returns field violations (dotted paths under `prefix`) instead of
raising, so one request reports every problem at once.
"""

from __future__ import annotations

import math
import re
from datetime import time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.briefs.model import (
    CalendarEvent,
    Contact,
    Deal,
    DealStage,
    OutreachChannel,
    OutreachEntry,
    OutreachOutcome,
    OwnerSettings,
    Task,
    TaskPriority,
    TaskStatus,
)
from services.briefs.money import is_currency_code
from switchboard.runtime.status import FieldViolation, InvalidArgument

MAX_ID = 128
MAX_SHORT = 500
MAX_TEXT = 20_000
MAX_ATTENDEES = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def raise_if(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(violations)


def owner_id(value: str, name: str = "owner_id") -> list[FieldViolation]:
    if not value.strip():
        return [FieldViolation(name, "is required")]
    if len(value) > MAX_ID:
        return [FieldViolation(name, f"must be at most {MAX_ID} characters")]
    return []


def required(value: str, name: str) -> list[FieldViolation]:
    return [] if value.strip() else [FieldViolation(name, "is required")]


def max_len(value: str, name: str, limit: int) -> list[FieldViolation]:
    return [FieldViolation(name, f"must be at most {limit} characters")] if len(value) > limit else []


# IANA names are short ("America/Argentina/ComodRivadavia" is among the longest).
MAX_TIME_ZONE = 64
# A task estimate beyond this is a typo, and would overflow the microsecond column.
MAX_ESTIMATE = timedelta(hours=1000)


def is_time_zone(name: str) -> bool:
    if not name or name != name.strip() or len(name) > MAX_TIME_ZONE:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name no file system accepts
        return False
    return True


def time_zone(value: str, name: str, *, allow_empty: bool) -> list[FieldViolation]:
    if not value:
        return [] if allow_empty else [FieldViolation(name, "is required")]
    if not is_time_zone(value):
        return [FieldViolation(name, f"unknown IANA time zone {value!r}")]
    return []


def email(value: str, name: str) -> list[FieldViolation]:
    if value and not _EMAIL.match(value):
        return [FieldViolation(name, f"not an email address: {value!r}")]
    return max_len(value, name, MAX_SHORT)


def contact(c: Contact, prefix: str = "contact") -> list[FieldViolation]:
    found = required(c.name, _path(prefix, "name"))
    found += max_len(c.name, _path(prefix, "name"), MAX_SHORT)
    found += email(c.email, _path(prefix, "email"))
    found += max_len(c.company, _path(prefix, "company"), MAX_SHORT)
    found += max_len(c.phone, _path(prefix, "phone"), 64)
    found += time_zone(c.time_zone, _path(prefix, "time_zone"), allow_empty=True)
    found += max_len(c.notes, _path(prefix, "notes"), MAX_TEXT)
    found += max_len(c.id, _path(prefix, "id"), MAX_ID)
    return found


def deal(d: Deal, prefix: str = "deal") -> list[FieldViolation]:
    found = required(d.contact_id, _path(prefix, "contact_id"))
    found += required(d.title, _path(prefix, "title"))
    found += max_len(d.title, _path(prefix, "title"), MAX_SHORT)
    found += max_len(d.next_step, _path(prefix, "next_step"), MAX_TEXT)
    found += max_len(d.id, _path(prefix, "id"), MAX_ID)
    if d.stage not in list(DealStage) or d.stage == DealStage.UNSPECIFIED:
        found.append(FieldViolation(_path(prefix, "stage"), "must be a deal stage (not UNSPECIFIED)"))
    if not (math.isfinite(d.probability) and 0.0 <= d.probability <= 1.0):
        found.append(FieldViolation(_path(prefix, "probability"), "must be between 0.0 and 1.0"))
    if d.value is not None and not is_currency_code(d.value.currency):
        found.append(
            FieldViolation(_path(prefix, "value.currency_code"), "must be an ISO 4217 code such as USD")
        )
    return found


def task(t: Task, prefix: str = "task") -> list[FieldViolation]:
    found = required(t.title, _path(prefix, "title"))
    found += max_len(t.title, _path(prefix, "title"), MAX_SHORT)
    found += max_len(t.id, _path(prefix, "id"), MAX_ID)
    if t.priority not in list(TaskPriority):
        found.append(FieldViolation(_path(prefix, "priority"), "unknown priority"))
    if t.status not in list(TaskStatus):
        found.append(FieldViolation(_path(prefix, "status"), "unknown status"))
    if t.estimated is not None and t.estimated.total_seconds() < 0:
        found.append(FieldViolation(_path(prefix, "estimated"), "must not be negative"))
    elif t.estimated is not None and t.estimated > MAX_ESTIMATE:
        found.append(FieldViolation(_path(prefix, "estimated"), "must be at most 1,000 hours"))
    return found


def event(e: CalendarEvent, prefix: str = "event") -> list[FieldViolation]:
    found = required(e.title, _path(prefix, "title"))
    found += max_len(e.title, _path(prefix, "title"), MAX_SHORT)
    found += max_len(e.location, _path(prefix, "location"), MAX_SHORT)
    found += max_len(e.id, _path(prefix, "id"), MAX_ID)
    if len(e.attendees) > MAX_ATTENDEES:
        found.append(FieldViolation(_path(prefix, "attendees"), f"at most {MAX_ATTENDEES} attendees"))
    if e.end_at < e.start_at:
        found.append(FieldViolation(_path(prefix, "end_at"), "must not be before start_at"))
    return found


def outreach(o: OutreachEntry, prefix: str = "entry") -> list[FieldViolation]:
    found = required(o.contact_id, _path(prefix, "contact_id"))
    if o.channel not in list(OutreachChannel) or o.channel == OutreachChannel.UNSPECIFIED:
        found.append(FieldViolation(_path(prefix, "channel"), "must be a channel (not UNSPECIFIED)"))
    if o.outcome not in list(OutreachOutcome) or o.outcome == OutreachOutcome.UNSPECIFIED:
        found.append(FieldViolation(_path(prefix, "outcome"), "must be an outcome (not UNSPECIFIED)"))
    found += max_len(o.note, _path(prefix, "note"), MAX_TEXT)
    return found


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def owner_settings(s: OwnerSettings, prefix: str = "settings") -> list[FieldViolation]:
    found = time_zone(s.time_zone, _path(prefix, "time_zone"), allow_empty=False)
    for i, sink in enumerate(s.sinks):
        where = _path(prefix, f"sinks[{i}]")
        if bool(sink.webhook_url) == bool(sink.email_address):
            found.append(FieldViolation(where, "exactly one of webhook_url and email_address must be set"))
        elif sink.webhook_url and not _valid_url(sink.webhook_url):
            found.append(FieldViolation(f"{where}.webhook_url", "must be an http(s) URL with a host"))
        elif sink.email_address:
            found += email(sink.email_address, f"{where}.email_address")
    if len(s.sinks) > 20:
        found.append(FieldViolation(_path(prefix, "sinks"), "at most 20 sinks"))
    if not 0 <= s.stale_deal_days <= 3650:
        found.append(FieldViolation(_path(prefix, "stale_deal_days"), "must be between 0 and 3650"))
    return found


def time_of_day(hours: int, minutes: int, seconds: int, nanos: int, name: str) -> tuple[time | None, list[FieldViolation]]:
    if not (0 <= hours <= 23 and 0 <= minutes <= 59 and 0 <= seconds <= 59 and 0 <= nanos < 1_000_000_000):
        return None, [FieldViolation(name, "must be a time of day between 00:00 and 23:59:59")]
    return time(hours, minutes, seconds, nanos // 1000), []
