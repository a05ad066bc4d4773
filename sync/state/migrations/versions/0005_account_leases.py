"""Replicas on one PostgreSQL store: the replicas alive (heartbeats) and one lease per account (owner,
generation, expiry). Also widens the API budget figures to 64 bits: some CRMs report allowances past 2**31.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('replicas',
    sa.Column('replica_id', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('replica_id', name=op.f('pk_replicas'))
    )
    op.create_table('account_leases',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=True),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('acquired_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_account_leases'))
    )
    with op.batch_alter_table('health', schema=None) as batch_op:
        batch_op.alter_column('budget_remaining', existing_type=sa.Integer(), type_=sa.BigInteger(),
                              existing_nullable=True)
        batch_op.alter_column('budget_limit', existing_type=sa.Integer(), type_=sa.BigInteger(),
                              existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('health', schema=None) as batch_op:
        batch_op.alter_column('budget_limit', existing_type=sa.BigInteger(), type_=sa.Integer(),
                              existing_nullable=True)
        batch_op.alter_column('budget_remaining', existing_type=sa.BigInteger(), type_=sa.Integer(),
                              existing_nullable=True)
    op.drop_table('account_leases')
    op.drop_table('replicas')
