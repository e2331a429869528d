"""The monitor's tables (SQLAlchemy Core). Every table is prefixed `monitor_`
because the embedded SQLite file is shared by services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# BIGINT primary keys autoincrement on PostgreSQL; SQLite needs INTEGER for that.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


samples = Table(
    "monitor_samples",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("target", String(200), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("latency_s", Float, nullable=True),
    Column("detail", String(500), nullable=False, default=""),
    Index("ix_monitor_samples_target_at", "target", "at"),
    Index("ix_monitor_samples_at", "at"),
)

alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("dedup_key", String(300), nullable=False),
    Column("target", String(200), nullable=False),
    Column("severity", SmallInteger, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("title", String(300), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("from_status", SmallInteger, nullable=False),
    Column("to_status", SmallInteger, nullable=False),
    Column("acknowledged", Boolean, nullable=False),
    Column("acknowledged_by", String(200), nullable=False),
    Column("acknowledged_at", UtcDateTime, nullable=True),
    Column("acknowledgement_note", Text, nullable=False),
    Column("deliveries", Text, nullable=False),  # JSON list of AlertDelivery
    Index("ix_monitor_alerts_last_seen", "last_seen_at", "id"),
    Index("ix_monitor_alerts_target", "target", "last_seen_at"),
)

events = Table(
    "monitor_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("target", String(200), nullable=False),
    Column("kind", String(50), nullable=False),  # e.g. "restart"
    Column("detail", Text, nullable=False),  # JSON
    Index("ix_monitor_events_at", "at"),
)
