"""The learning service's tables (SQLAlchemy 2 declarative). Every table is
prefixed `learning_` because the embedded SQLite file is shared by services.

Rows carry their tenant; idempotency keys are unique per tenant. Rows also
carry their `origin`, the replica (process) that wrote them, so that every
replica can feed the rows the others wrote into its own model (sync.py): the
autoincrement `id` is the order replicas tail the tables in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic can alter them on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT primary keys autoincrement on PostgreSQL; SQLite needs INTEGER for that.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out: SQLite has no time zones, so values are
    stored as naive UTC there and made aware again on the way out."""

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
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class InteractionRow(Base):
    """One backend attempt (see `Interaction` in learning.proto)."""

    __tablename__ = "learning_interactions"
    __table_args__ = (
        UniqueConstraint("tenant", "interaction_id", name="uq_learning_interactions_tenant_id"),
        Index("ix_learning_interactions_user", "tenant", "user_id", "occurred_at"),
        Index("ix_learning_interactions_tenant_time", "tenant", "occurred_at"),
        Index("ix_learning_interactions_time", "occurred_at"),
        {"sqlite_autoincrement": True},  # ids only grow (see migration 0002)
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128))
    interaction_id: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(128), default="")
    user_id: Mapped[str] = mapped_column(String(256), default="")
    topic: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(256), default="")
    outcome: Mapped[str] = mapped_column(String(32))
    error_detail: Mapped[str] = mapped_column(String(512), default="")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    ttft_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    total_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_chars: Mapped[int] = mapped_column(BigInteger, default=0)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)  # first acceptance (spool or database)
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    was_cached: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    origin: Mapped[str] = mapped_column(String(64), default="", server_default="")  # the replica that wrote it


class FeedbackRow(Base):
    """Explicit or implicit feedback on one interaction. The interaction may not
    exist yet (held feedback): there is deliberately no foreign key."""

    __tablename__ = "learning_feedback"
    __table_args__ = (
        UniqueConstraint("tenant", "feedback_id", name="uq_learning_feedback_tenant_id"),
        Index("ix_learning_feedback_interaction", "tenant", "interaction_id"),
        Index("ix_learning_feedback_user", "tenant", "user_id"),
        Index("ix_learning_feedback_time", "occurred_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128))
    feedback_id: Mapped[str] = mapped_column(String(512))
    interaction_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(256), default="")  # who gave it ("" = the interaction's user)
    kind: Mapped[str] = mapped_column(String(16))  # thumb | stars | implicit
    thumb: Mapped[str | None] = mapped_column(String(8), nullable=True)  # up | down
    stars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signal: Mapped[str | None] = mapped_column(String(32), nullable=True)  # reask | regenerate | ...
    related_interaction_id: Mapped[str] = mapped_column(String(128), default="")
    positive: Mapped[float] = mapped_column(Float)  # satisfaction in [0, 1]
    comment: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)
    origin: Mapped[str] = mapped_column(String(64), default="", server_default="")  # the replica that wrote it
    # A rating that replaced an earlier one (same key) is a new row (new id, so
    # other replicas' tails see it) saying what it replaced, so that they can
    # take the earlier rating out of their models.
    replaced_positive: Mapped[float | None] = mapped_column(Float, nullable=True)
    replaced_occurred_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ForgottenRow(Base):
    """A ForgetUser, for the other replicas to drop the user from their models
    too (their tails read it); pruned after `FORGOTTEN_RETENTION`."""

    __tablename__ = "learning_forgotten"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(256))
    origin: Mapped[str] = mapped_column(String(64))
    forgotten_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProfileRow(Base):
    """A computed user profile, reused while the user has no new data."""

    __tablename__ = "learning_profiles"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    time_zone: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[str] = mapped_column(String(128))  # newest row ids it was computed from
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[str] = mapped_column(Text)  # JSON of the domain profile
