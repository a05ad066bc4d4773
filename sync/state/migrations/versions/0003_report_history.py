"""Report history: stage transitions with their times, every SLA hand-off with its first touch, and the
calibration results, so the report can show the funnel over time, SLA performance per week and owner, and the
latest calibration. Additive only: existing rows are untouched; the history starts with the next decisions.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stage_transitions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('from_stage', sa.String(length=64), nullable=True),
    sa.Column('to_stage', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('basis', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_transitions'))
    )
    with op.batch_alter_table('stage_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stage_transitions_crm_account_at'), ['crm', 'account', 'at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_stage_transitions_crm_account_contact_id'),
                              ['crm', 'account', 'contact_id'], unique=False)

    op.create_table('sla_handoffs',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('owner_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('touched_at', sa.DateTime(), nullable=True),
    sa.Column('touched_by', sa.String(length=255), nullable=True),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'account', 'contact_id', 'started_at', name=op.f('pk_sla_handoffs'))
    )
    with op.batch_alter_table('sla_handoffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_handoffs_crm_account_due_at'), ['crm', 'account', 'due_at'],
                              unique=False)

    op.create_table('calibrations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('period_start', sa.DateTime(), nullable=False),
    sa.Column('period_end', sa.DateTime(), nullable=False),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('proposed_version', sa.String(length=64), nullable=True),
    sa.Column('result', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calibrations'))
    )


def downgrade() -> None:
    op.drop_table('calibrations')
    with op.batch_alter_table('sla_handoffs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_handoffs_crm_account_due_at'))
    op.drop_table('sla_handoffs')
    with op.batch_alter_table('stage_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stage_transitions_crm_account_contact_id'))
        batch_op.drop_index(batch_op.f('ix_stage_transitions_crm_account_at'))
    op.drop_table('stage_transitions')
