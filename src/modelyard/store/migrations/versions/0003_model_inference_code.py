"""models served by the user's inference code

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("framework", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("entry_point", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("source_dir", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("source_dir")
        batch_op.drop_column("entry_point")
        batch_op.drop_column("framework")
