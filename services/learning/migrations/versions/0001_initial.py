"""Initial schema: interactions, feedback, cached profiles.

Revision ID: 0001_initial
Revises:
Create Date: 2026-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "learning_interactions",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("interaction_id", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("backend", sa.String(128), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error_detail", sa.String(512), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ttft_s", sa.Float(), nullable=True),
        sa.Column("total_time_s", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("prompt_chars", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", Utc, nullable=False),
        sa.Column("stored_at", Utc, nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("was_cached", sa.Boolean(), nullable=False),
        sa.Column("prompt_fingerprint", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_learning_interactions"),
        sa.UniqueConstraint("tenant", "interaction_id", name="uq_learning_interactions_tenant_id"),
    )
    op.create_index("ix_learning_interactions_user", "learning_interactions", ["tenant", "user_id", "occurred_at"])
    op.create_index("ix_learning_interactions_tenant_time", "learning_interactions", ["tenant", "occurred_at"])
    op.create_index("ix_learning_interactions_time", "learning_interactions", ["occurred_at"])

    op.create_table(
        "learning_feedback",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("feedback_id", sa.String(512), nullable=False),
        sa.Column("interaction_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("thumb", sa.String(8), nullable=True),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("signal", sa.String(32), nullable=True),
        sa.Column("related_interaction_id", sa.String(128), nullable=False),
        sa.Column("positive", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("occurred_at", Utc, nullable=False),
        sa.Column("stored_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_learning_feedback"),
        sa.UniqueConstraint("tenant", "feedback_id", name="uq_learning_feedback_tenant_id"),
    )
    op.create_index("ix_learning_feedback_interaction", "learning_feedback", ["tenant", "interaction_id"])
    op.create_index("ix_learning_feedback_user", "learning_feedback", ["tenant", "user_id"])
    op.create_index("ix_learning_feedback_time", "learning_feedback", ["occurred_at"])

    op.create_table(
        "learning_profiles",
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("watermark", sa.String(128), nullable=False),
        sa.Column("computed_at", Utc, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "user_id", "time_zone", name="pk_learning_profiles"),
    )


def downgrade() -> None:
    op.drop_table("learning_profiles")
    op.drop_index("ix_learning_feedback_time", table_name="learning_feedback")
    op.drop_index("ix_learning_feedback_user", table_name="learning_feedback")
    op.drop_index("ix_learning_feedback_interaction", table_name="learning_feedback")
    op.drop_table("learning_feedback")
    op.drop_index("ix_learning_interactions_time", table_name="learning_interactions")
    op.drop_index("ix_learning_interactions_tenant_time", table_name="learning_interactions")
    op.drop_index("ix_learning_interactions_user", table_name="learning_interactions")
    op.drop_table("learning_interactions")
