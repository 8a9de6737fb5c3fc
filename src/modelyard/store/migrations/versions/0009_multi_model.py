"""multi-model endpoints: a model's mode and its model cache settings

SageMaker's container Mode (SingleModel or MultiModel) and MultiModelConfig. Every existing
model serves a single model.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(16), nullable=False, server_default="SingleModel")
        )
        batch_op.add_column(sa.Column("multi_model_config", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("multi_model_config")
        batch_op.drop_column("mode")
