"""processing jobs: a kind of job, with its inputs, outputs and command

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="training")
        )
        batch_op.add_column(sa.Column("processing", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_training_jobs_kind"), ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_jobs_kind"))
        batch_op.drop_column("processing")
        batch_op.drop_column("kind")
