"""Initial schema: cursors, contact snapshots, last pushed values, outbox, SLA timers, audit, rejections,
runs and health. Datetimes are naive UTC (see sync.state.tables.UtcDateTime).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('before', sa.Text(), nullable=True),
    sa.Column('after', sa.Text(), nullable=False),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit'))
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_crm_account_contact_id'), ['crm', 'account', 'contact_id'], unique=False)

    op.create_table('contacts',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.Column('memory', sa.Text(), nullable=False),
    sa.Column('crm_updated_at', sa.DateTime(), nullable=True),
    sa.Column('stage', sa.String(length=64), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('maturity', sa.String(length=64), nullable=True),
    sa.Column('client_kind', sa.String(length=64), nullable=True),
    sa.Column('rules_version', sa.String(length=64), nullable=True),
    sa.Column('sla_status', sa.String(length=64), nullable=True),
    sa.Column('sla_due_at', sa.DateTime(), nullable=True),
    sa.Column('next_review_at', sa.DateTime(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.Column('tombstoned_at', sa.DateTime(), nullable=True),
    sa.Column('merged_into', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('crm', 'account', 'contact_id', name=op.f('pk_contacts'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_crm_account_next_review_at'), ['crm', 'account', 'next_review_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_crm_account_rules_version'), ['crm', 'account', 'rules_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_stage'), ['stage'], unique=False)

    op.create_table('cursors',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'account', 'stream', name=op.f('pk_cursors'))
    )
    op.create_table('health',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('reachable', sa.Boolean(), nullable=False),
    sa.Column('authorised', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('budget_remaining', sa.Integer(), nullable=True),
    sa.Column('budget_limit', sa.Integer(), nullable=True),
    sa.Column('budget_window', sa.String(length=64), nullable=False),
    sa.Column('budget_resets_at', sa.DateTime(), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'account', name=op.f('pk_health'))
    )
    op.create_table('outbox',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('crm', 'account', 'contact_id', 'field', name=op.f('pk_outbox'))
    )
    op.create_table('pushed',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('pushed_at', sa.DateTime(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'account', 'contact_id', 'field', name=op.f('pk_pushed'))
    )
    op.create_table('rejections',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejections'))
    )
    with op.batch_alter_table('rejections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rejections_crm_account_at'), ['crm', 'account', 'at'], unique=False)

    op.create_table('runs',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=64), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('errors', sa.Text(), nullable=False),
    sa.Column('retry_at', sa.DateTime(), nullable=True),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('breaches_open', sa.Integer(), nullable=False),
    sa.Column('cursor_lag_seconds', sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_runs'))
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_crm_account_started_at'), ['crm', 'account', 'started_at'], unique=False)

    op.create_table('sla_timers',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('touched_at', sa.DateTime(), nullable=True),
    sa.Column('touched_by', sa.String(length=255), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'account', 'contact_id', name=op.f('pk_sla_timers'))
    )
    with op.batch_alter_table('sla_timers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_timers_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sla_timers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_timers_status'))

    op.drop_table('sla_timers')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_crm_account_started_at'))

    op.drop_table('runs')
    with op.batch_alter_table('rejections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rejections_crm_account_at'))

    op.drop_table('rejections')
    op.drop_table('pushed')
    op.drop_table('outbox')
    op.drop_table('health')
    op.drop_table('cursors')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_stage'))
        batch_op.drop_index(batch_op.f('ix_contacts_crm_account_rules_version'))
        batch_op.drop_index(batch_op.f('ix_contacts_crm_account_next_review_at'))

    op.drop_table('contacts')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_crm_account_contact_id'))

    op.drop_table('audit')
