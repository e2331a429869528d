"""Monitor tables: probe samples, alerts, events.

Revision ID: 0001_monitor_tables
Revises:
Create Date: 2026-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_monitor_tables"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor_samples",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("at", Utc, nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_samples"),
    )
    op.create_index("ix_monitor_samples_target_at", "monitor_samples", ["target", "at"])
    op.create_index("ix_monitor_samples_at", "monitor_samples", ["at"])

    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("dedup_key", sa.String(300), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", Utc, nullable=False),
        sa.Column("last_seen_at", Utc, nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.SmallInteger(), nullable=False),
        sa.Column("to_status", sa.SmallInteger(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=False),
        sa.Column("acknowledged_at", Utc, nullable=True),
        sa.Column("acknowledgement_note", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_alerts"),
    )
    op.create_index("ix_monitor_alerts_last_seen", "monitor_alerts", ["last_seen_at", "id"])
    op.create_index("ix_monitor_alerts_target", "monitor_alerts", ["target", "last_seen_at"])

    op.create_table(
        "monitor_events",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("at", Utc, nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_events"),
    )
    op.create_index("ix_monitor_events_at", "monitor_events", ["at"])


def downgrade() -> None:
    op.drop_table("monitor_events")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_samples")
