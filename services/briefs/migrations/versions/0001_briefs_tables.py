"""Briefs tables.

Owners, settings, contacts, deals, stage changes, tasks, events, outreach,
briefs, deliveries and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-03-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('briefs_briefs',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('time_zone', sa.String(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=False),
    sa.Column('narrative_status', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'id'),
    sa.UniqueConstraint('tenant', 'owner_id', 'kind', 'date', name='uq_briefs_briefs_day')
    )
    op.create_index('ix_briefs_briefs_generated', 'briefs_briefs', ['tenant', 'owner_id', 'generated_at'], unique=False)
    op.create_table('briefs_contacts',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('email', sa.String(), nullable=False),
    sa.Column('email_key', sa.String(), nullable=True),
    sa.Column('company', sa.String(), nullable=False),
    sa.Column('phone', sa.String(), nullable=False),
    sa.Column('time_zone', sa.String(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'id'),
    sa.UniqueConstraint('tenant', 'owner_id', 'email_key', name='uq_briefs_contacts_email')
    )
    op.create_index('ix_briefs_contacts_name', 'briefs_contacts', ['tenant', 'owner_id', 'name'], unique=False)
    op.create_table('briefs_deal_stage_changes',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('deal_id', sa.String(), nullable=False),
    sa.Column('from_stage', sa.SmallInteger(), nullable=False),
    sa.Column('to_stage', sa.SmallInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'id')
    )
    op.create_index('ix_briefs_stage_changes_at', 'briefs_deal_stage_changes', ['tenant', 'owner_id', 'at'], unique=False)
    op.create_table('briefs_deals',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('contact_id', sa.String(), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('value_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('stage', sa.SmallInteger(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('last_contact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_step', sa.Text(), nullable=False),
    sa.Column('expected_close', sa.Date(), nullable=True),
    sa.Column('stage_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'id')
    )
    op.create_index('ix_briefs_deals_contact', 'briefs_deals', ['tenant', 'owner_id', 'contact_id'], unique=False)
    op.create_index('ix_briefs_deals_updated', 'briefs_deals', ['tenant', 'owner_id', 'updated_at'], unique=False)
    op.create_table('briefs_deliveries',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('brief_id', sa.String(), nullable=False),
    sa.Column('sink_index', sa.Integer(), nullable=False),
    sa.Column('webhook_url', sa.String(), nullable=False),
    sa.Column('email_address', sa.String(), nullable=False),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'brief_id', 'sink_index')
    )
    op.create_index('ix_briefs_deliveries_due', 'briefs_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_table('briefs_events',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('attendees', sa.JSON(), nullable=False),
    sa.Column('location', sa.String(), nullable=False),
    sa.Column('source_uid', sa.String(), nullable=False),
    sa.Column('recurrence_id', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_key', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'id'),
    sa.UniqueConstraint('tenant', 'owner_id', 'source_key', name='uq_briefs_events_source')
    )
    op.create_index('ix_briefs_events_start', 'briefs_events', ['tenant', 'owner_id', 'start_at'], unique=False)
    op.create_table('briefs_idempotency',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('rpc', sa.String(), nullable=False),
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'rpc', 'key')
    )
    op.create_index('ix_briefs_idempotency_created', 'briefs_idempotency', ['created_at'], unique=False)
    op.create_table('briefs_outreach',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('contact_id', sa.String(), nullable=False),
    sa.Column('deal_id', sa.String(), nullable=True),
    sa.Column('deal_stage', sa.SmallInteger(), nullable=True),
    sa.Column('channel', sa.SmallInteger(), nullable=False),
    sa.Column('outcome', sa.SmallInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'id')
    )
    op.create_index('ix_briefs_outreach_at', 'briefs_outreach', ['tenant', 'owner_id', 'at'], unique=False)
    op.create_table('briefs_owner_settings',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('time_zone', sa.String(), nullable=False),
    sa.Column('morning_s', sa.Integer(), nullable=False),
    sa.Column('afternoon_s', sa.Integer(), nullable=False),
    sa.Column('evening_s', sa.Integer(), nullable=False),
    sa.Column('sinks', sa.JSON(), nullable=False),
    sa.Column('narrative_enabled', sa.Boolean(), nullable=False),
    sa.Column('stale_deal_days', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id')
    )
    op.create_table('briefs_owners',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id')
    )
    op.create_table('briefs_tasks',
    sa.Column('tenant', sa.String(), nullable=False),
    sa.Column('owner_id', sa.String(), nullable=False),
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('estimated_us', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'owner_id', 'id')
    )
    op.create_index('ix_briefs_tasks_completed', 'briefs_tasks', ['tenant', 'owner_id', 'completed_at'], unique=False)
    op.create_index('ix_briefs_tasks_due', 'briefs_tasks', ['tenant', 'owner_id', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_briefs_tasks_due', table_name='briefs_tasks')
    op.drop_index('ix_briefs_tasks_completed', table_name='briefs_tasks')
    op.drop_table('briefs_tasks')
    op.drop_table('briefs_owners')
    op.drop_table('briefs_owner_settings')
    op.drop_index('ix_briefs_outreach_at', table_name='briefs_outreach')
    op.drop_table('briefs_outreach')
    op.drop_index('ix_briefs_idempotency_created', table_name='briefs_idempotency')
    op.drop_table('briefs_idempotency')
    op.drop_index('ix_briefs_events_start', table_name='briefs_events')
    op.drop_table('briefs_events')
    op.drop_index('ix_briefs_deliveries_due', table_name='briefs_deliveries')
    op.drop_table('briefs_deliveries')
    op.drop_index('ix_briefs_deals_updated', table_name='briefs_deals')
    op.drop_index('ix_briefs_deals_contact', table_name='briefs_deals')
    op.drop_table('briefs_deals')
    op.drop_index('ix_briefs_stage_changes_at', table_name='briefs_deal_stage_changes')
    op.drop_table('briefs_deal_stage_changes')
    op.drop_index('ix_briefs_contacts_name', table_name='briefs_contacts')
    op.drop_table('briefs_contacts')
    op.drop_index('ix_briefs_briefs_generated', table_name='briefs_briefs')
    op.drop_table('briefs_briefs')
