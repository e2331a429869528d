"""CSV (RFC 4180) parsing of contacts and deals. Pure: rows become domain
objects or `RowError`s with the physical line they start on (the header is
line 1; a quoted field may span lines). References (contact ids and emails,
existing ids) are resolved by the store, which reports those rows too."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime

from services.briefs import validate
from services.briefs.model import Contact, Deal, DealStage, Money, RowError
from services.briefs.money import is_currency_code, parse_major
from switchboard.runtime.status import FieldViolation, InvalidArgument

CONTACT_COLUMNS = ("name", "email", "company", "phone", "time_zone", "notes", "id")
DEAL_COLUMNS = (
    "title", "contact_id", "contact_email", "value", "currency", "stage", "probability",
    "last_contact_at", "next_step", "expected_close", "id",
)
MAX_ROWS = 50_000


def _rows(text: str, field: str = "csv_text") -> Iterator[tuple[int, dict[str, str] | RowError]]:
    """(line, {column: value}) per data row, or (line, RowError) for a malformed one."""
    if not text.strip():
        raise InvalidArgument([FieldViolation(field, "is required (CSV with a header row)")])
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InvalidArgument([FieldViolation(field, f"unreadable header: {exc}")]) from None
    columns = [h.strip().lower() for h in header]
    duplicates = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicates:
        raise InvalidArgument([FieldViolation(field, f"duplicate columns: {', '.join(duplicates)}")])
    yield 1, dict.fromkeys(columns, "")  # the header, so callers can check columns
    line = reader.line_num + 1
    count = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, RowError(line, "", f"malformed CSV: {exc}")
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if not row or all(not cell.strip() for cell in row):
            continue  # blank line
        count += 1
        if count > MAX_ROWS:
            raise InvalidArgument([FieldViolation(field, f"at most {MAX_ROWS} rows per import")])
        if len(row) != len(columns):
            yield start, RowError(start, "", f"expected {len(columns)} fields, found {len(row)}")
            continue
        yield start, {c: v.strip() for c, v in zip(columns, row, strict=True) if c}


def _require_column(columns: dict[str, str], name: str) -> None:
    if name not in columns:
        raise InvalidArgument([FieldViolation("csv_text", f"the header has no {name!r} column")])


def parse_contacts(text: str) -> tuple[list[tuple[int, Contact]], list[RowError]]:
    rows: list[tuple[int, Contact]] = []
    errors: list[RowError] = []
    for line, row in _rows(text):
        if line == 1 and isinstance(row, dict):
            _require_column(row, "name")
            continue
        if isinstance(row, RowError):
            errors.append(row)
            continue
        contact = Contact(
            id=row.get("id", ""),
            owner_id="",
            name=row.get("name", ""),
            email=row.get("email", ""),
            company=row.get("company", ""),
            phone=row.get("phone", ""),
            time_zone=row.get("time_zone", ""),
            notes=row.get("notes", ""),
        )
        violations = validate.contact(contact, prefix="")
        if violations:
            errors.extend(RowError(line, v.field, v.description) for v in violations)
            continue
        rows.append((line, contact))
    return rows, errors


def _stage(text: str) -> DealStage:
    name = text.strip().upper().removeprefix("DEAL_STAGE_")
    if not name:
        return DealStage.LEAD
    try:
        stage = DealStage[name]
    except KeyError:
        raise ValueError(f"unknown stage {text!r} (LEAD, QUALIFIED, PROPOSAL, NEGOTIATION, WON, LOST)") from None
    if stage == DealStage.UNSPECIFIED:
        raise ValueError("stage must not be UNSPECIFIED")
    return stage


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (RFC 3339 needs one, e.g. Z or +02:00)")
    return value.astimezone(UTC)


def _deal_row(line: int, row: dict[str, str]) -> tuple[Deal, str] | list[RowError]:
    errors: list[RowError] = []

    def bad(column: str, reason: str) -> None:
        errors.append(RowError(line, column, reason))

    contact_id, contact_email = row.get("contact_id", ""), row.get("contact_email", "")
    if not contact_id and not contact_email:
        bad("contact_id", "contact_id or contact_email is required")
    currency = row.get("currency", "").upper()
    value: Money | None = None
    if row.get("value", ""):
        if not currency:
            bad("currency", "is required with value")
        elif not is_currency_code(currency):
            bad("currency", f"not an ISO 4217 code: {currency!r}")
        else:
            try:
                value = Money(parse_major(row["value"], currency), currency)
            except ValueError as exc:
                bad("value", str(exc))
    elif currency and not is_currency_code(currency):
        bad("currency", f"not an ISO 4217 code: {currency!r}")
    stage = DealStage.LEAD
    try:
        stage = _stage(row.get("stage", ""))
    except ValueError as exc:
        bad("stage", str(exc))
    probability = 0.0
    if row.get("probability", ""):
        try:
            probability = float(row["probability"])
            if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
                bad("probability", "must be between 0 and 1")
        except ValueError:
            bad("probability", f"not a number: {row['probability']!r}")
    last_contact_at = None
    if row.get("last_contact_at", ""):
        try:
            last_contact_at = _timestamp(row["last_contact_at"])
        except ValueError as exc:
            bad("last_contact_at", f"not an RFC 3339 timestamp: {exc}")
    expected_close = None
    if row.get("expected_close", ""):
        try:
            expected_close = date.fromisoformat(row["expected_close"])
        except ValueError:
            bad("expected_close", f"not a YYYY-MM-DD date: {row['expected_close']!r}")
    deal = Deal(
        id=row.get("id", ""),
        owner_id="",
        contact_id=contact_id,
        title=row.get("title", ""),
        stage=stage,
        value=value,
        probability=probability,
        last_contact_at=last_contact_at,
        next_step=row.get("next_step", ""),
        expected_close=expected_close,
    )
    if not errors:
        errors += [
            RowError(line, v.field, v.description)
            for v in validate.deal(deal, prefix="")
            if v.field != "contact_id"  # contact_email may stand in for it
        ]
    return errors if errors else (deal, contact_email)


def parse_deals(text: str) -> tuple[list[tuple[int, Deal, str]], list[RowError]]:
    """Rows are (line, deal, contact_email); contact references are resolved later."""
    rows: list[tuple[int, Deal, str]] = []
    errors: list[RowError] = []
    for line, row in _rows(text):
        if line == 1 and isinstance(row, dict):
            _require_column(row, "title")
            if "contact_id" not in row and "contact_email" not in row:
                raise InvalidArgument([FieldViolation("csv_text", "the header needs a contact_id or contact_email column")])
            continue
        if isinstance(row, RowError):
            errors.append(row)
            continue
        parsed = _deal_row(line, row)
        if isinstance(parsed, list):
            errors.extend(parsed)
        else:
            rows.append((line, *parsed))
    return rows, errors
