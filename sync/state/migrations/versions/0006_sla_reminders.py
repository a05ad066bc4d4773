"""SLA reminders: the reminder and escalation tasks crmsync owes each SLA clock, and the breach webhooks, as
durable rows (an outbox of their own). Additive only: a new table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sla_reminders',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('clock_start', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('marker', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('assignee_id', sa.String(length=255), nullable=True),
    sa.Column('owner_id', sa.String(length=255), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('task_id', sa.String(length=255), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'account', 'contact_id', 'clock_start', 'kind', name=op.f('pk_sla_reminders'))
    )
    with op.batch_alter_table('sla_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_reminders_crm_account_status'), ['crm', 'account', 'status'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_sla_reminders_kind_status_next_attempt_at'),
                              ['kind', 'status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sla_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_reminders_kind_status_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_sla_reminders_crm_account_status'))
    op.drop_table('sla_reminders')
