"""Replicas: each row's origin (the replica that wrote it), ratings that say
what they replaced, and ForgetUser tombstones, so that every replica's model
follows the rows the others write.

Revision ID: 0002_replicas
Revises: 0001_initial
Create Date: 2026-01-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_replicas"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("learning_interactions", sa.Column("origin", sa.String(64), nullable=False, server_default=""))
    op.add_column("learning_feedback", sa.Column("origin", sa.String(64), nullable=False, server_default=""))
    op.add_column("learning_feedback", sa.Column("replaced_positive", sa.Float(), nullable=True))
    op.add_column("learning_feedback", sa.Column("replaced_occurred_at", Utc, nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # Row ids must only grow (the tail and the profile cache rely on it):
        # SQLite reuses the highest id after a delete unless AUTOINCREMENT.
        for table in ("learning_interactions", "learning_feedback"):
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
                pass
    op.create_table(
        "learning_forgotten",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("forgotten_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_learning_forgotten"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("learning_forgotten")
    with op.batch_alter_table("learning_feedback") as batch:
        batch.drop_column("replaced_occurred_at")
        batch.drop_column("replaced_positive")
        batch.drop_column("origin")
    with op.batch_alter_table("learning_interactions") as batch:
        batch.drop_column("origin")
