"""SQL tables of the briefs service (SQLAlchemy Core). Every row carries its
tenant and owner, and every key starts with them. Alembic migrations in
`migrations/` create exactly these tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes everywhere: PostgreSQL timestamptz, and naive UTC text on
    SQLite (which keeps no offset, and then sorts correctly as text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _scope() -> list[sa.Column[Any]]:
    return [
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("owner_id", sa.String, nullable=False),
    ]


def _stamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    ]


# Every owner the service has heard of: the scheduler's list of whom to brief.
owners = sa.Table(
    "briefs_owners",
    metadata,
    *_scope(),
    sa.Column("first_seen_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "owner_id"),
)

owner_settings = sa.Table(
    "briefs_owner_settings",
    metadata,
    *_scope(),
    sa.Column("time_zone", sa.String, nullable=False),
    # Local times as seconds after midnight.
    sa.Column("morning_s", sa.Integer, nullable=False),
    sa.Column("afternoon_s", sa.Integer, nullable=False),
    sa.Column("evening_s", sa.Integer, nullable=False),
    sa.Column("sinks", sa.JSON, nullable=False),
    sa.Column("narrative_enabled", sa.Boolean, nullable=False),
    sa.Column("stale_deal_days", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "owner_id"),
)

contacts = sa.Table(
    "briefs_contacts",
    metadata,
    *_scope(),
    sa.Column("id", sa.String, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("email", sa.String, nullable=False),
    # lower(email), NULL when there is none: unique per owner when set.
    sa.Column("email_key", sa.String, nullable=True),
    sa.Column("company", sa.String, nullable=False),
    sa.Column("phone", sa.String, nullable=False),
    sa.Column("time_zone", sa.String, nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    *_stamps(),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "id"),
    sa.UniqueConstraint("tenant", "owner_id", "email_key", name="uq_briefs_contacts_email"),
    sa.Index("ix_briefs_contacts_name", "tenant", "owner_id", "name"),
)

deals = sa.Table(
    "briefs_deals",
    metadata,
    *_scope(),
    sa.Column("id", sa.String, nullable=False),
    sa.Column("contact_id", sa.String, nullable=False),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("value_minor", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("stage", sa.SmallInteger, nullable=False),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("last_contact_at", UtcDateTime, nullable=True),
    sa.Column("next_step", sa.Text, nullable=False),
    sa.Column("expected_close", sa.Date, nullable=True),
    sa.Column("stage_changed_at", UtcDateTime, nullable=True),
    *_stamps(),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "id"),
    sa.Index("ix_briefs_deals_contact", "tenant", "owner_id", "contact_id"),
    sa.Index("ix_briefs_deals_updated", "tenant", "owner_id", "updated_at"),
)

# Every stage change of a deal (creation counts as UNSPECIFIED → stage): the
# afternoon's wins and the evening's advanced/won/lost counts come from here.
deal_stage_changes = sa.Table(
    "briefs_deal_stage_changes",
    metadata,
    *_scope(),
    sa.Column("id", sa.String, nullable=False),
    sa.Column("deal_id", sa.String, nullable=False),
    sa.Column("from_stage", sa.SmallInteger, nullable=False),
    sa.Column("to_stage", sa.SmallInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "id"),
    sa.Index("ix_briefs_stage_changes_at", "tenant", "owner_id", "at"),
)

tasks = sa.Table(
    "briefs_tasks",
    metadata,
    *_scope(),
    sa.Column("id", sa.String, nullable=False),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=True),
    sa.Column("priority", sa.SmallInteger, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Column("estimated_us", sa.BigInteger, nullable=True),
    *_stamps(),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "id"),
    sa.Index("ix_briefs_tasks_due", "tenant", "owner_id", "due_at"),
    sa.Index("ix_briefs_tasks_completed", "tenant", "owner_id", "completed_at"),
)

events = sa.Table(
    "briefs_events",
    metadata,
    *_scope(),
    sa.Column("id", sa.String, nullable=False),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("start_at", UtcDateTime, nullable=False),
    sa.Column("end_at", UtcDateTime, nullable=False),
    sa.Column("all_day", sa.Boolean, nullable=False),
    sa.Column("attendees", sa.JSON, nullable=False),
    sa.Column("location", sa.String, nullable=False),
    sa.Column("source_uid", sa.String, nullable=False),
    sa.Column("recurrence_id", UtcDateTime, nullable=True),
    # "<uid>|<recurrence-id or empty>" for imported events, NULL otherwise:
    # re-importing the same VEVENT updates instead of duplicating.
    sa.Column("source_key", sa.String, nullable=True),
    *_stamps(),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "id"),
    sa.UniqueConstraint("tenant", "owner_id", "source_key", name="uq_briefs_events_source"),
    sa.Index("ix_briefs_events_start", "tenant", "owner_id", "start_at"),
)

outreach = sa.Table(
    "briefs_outreach",
    metadata,
    *_scope(),
    sa.Column("id", sa.String, nullable=False),
    sa.Column("contact_id", sa.String, nullable=False),
    sa.Column("deal_id", sa.String, nullable=True),
    sa.Column("deal_stage", sa.SmallInteger, nullable=True),
    sa.Column("channel", sa.SmallInteger, nullable=False),
    sa.Column("outcome", sa.SmallInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "id"),
    sa.Index("ix_briefs_outreach_at", "tenant", "owner_id", "at"),
)

briefs = sa.Table(
    "briefs_briefs",
    metadata,
    *_scope(),
    sa.Column("id", sa.String, nullable=False),
    sa.Column("kind", sa.SmallInteger, nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("as_of", UtcDateTime, nullable=False),
    sa.Column("generated_at", UtcDateTime, nullable=False),
    sa.Column("time_zone", sa.String, nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # JSON of the kind's content
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("narrative", sa.Text, nullable=False),
    sa.Column("narrative_status", sa.SmallInteger, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "id"),
    # Exactly one brief per owner, kind and local date, whatever the replicas do.
    sa.UniqueConstraint("tenant", "owner_id", "kind", "date", name="uq_briefs_briefs_day"),
    sa.Index("ix_briefs_briefs_generated", "tenant", "owner_id", "generated_at"),
)

deliveries = sa.Table(
    "briefs_deliveries",
    metadata,
    *_scope(),
    sa.Column("brief_id", sa.String, nullable=False),
    sa.Column("sink_index", sa.Integer, nullable=False),
    sa.Column("webhook_url", sa.String, nullable=False),
    sa.Column("email_address", sa.String, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "brief_id", "sink_index"),
    sa.Index("ix_briefs_deliveries_due", "status", "next_attempt_at"),
)

# Results of writes made with an idempotency key, replayed on a retry.
idempotency = sa.Table(
    "briefs_idempotency",
    metadata,
    *_scope(),
    sa.Column("rpc", sa.String, nullable=False),
    sa.Column("key", sa.String, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant", "owner_id", "rpc", "key"),
    sa.Index("ix_briefs_idempotency_created", "created_at"),
)
