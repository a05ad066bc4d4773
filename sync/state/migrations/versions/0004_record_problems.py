"""Record problems and setup warnings: the records (or fields) crmsync could not read or the CRM refused for
good, per account, and the setup problems that switch a feature off, for `crmsync status` and the metrics;
and the audit's `outcome`, which tells a field written from one a person's value kept. Additive only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('record_problems',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=255), nullable=False),
    sa.Column('field', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'account', 'source', 'object_type', 'record_id', 'field',
                            name=op.f('pk_record_problems'))
    )
    with op.batch_alter_table('record_problems', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_problems_crm_account_last_seen'),
                              ['crm', 'account', 'last_seen'], unique=False)

    op.create_table('setup_warnings',
    sa.Column('crm', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('what', sa.String(length=500), nullable=False),
    sa.Column('lost', sa.Text(), nullable=False),
    sa.Column('enable', sa.Text(), nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'account', 'what', name=op.f('pk_setup_warnings'))
    )

    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=64), server_default='written', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_column('outcome')
    op.drop_table('setup_warnings')
    with op.batch_alter_table('record_problems', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_problems_crm_account_last_seen'))
    op.drop_table('record_problems')
