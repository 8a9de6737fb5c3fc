"""asynchronous inference, shadow variants and data capture in endpoint configs

An endpoint config gains its shadow variants, its AsyncInferenceConfig and its
DataCaptureConfig; asynchronous requests get a table of their own, the queue that outlives
a restart of the server.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint_configs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shadow_production_variants", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("async_inference_config", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("data_capture_config", sa.JSON(), nullable=True))
    op.create_table(
        "async_invocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint_name", sa.String(length=63), nullable=False),
        sa.Column("inference_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("input_location", sa.Text(), nullable=False),
        sa.Column("output_location", sa.Text(), nullable=False),
        sa.Column("failure_location", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("accept", sa.String(length=255), nullable=True),
        sa.Column("invocation_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint_name", "inference_id"),
    )
    with op.batch_alter_table("async_invocations", schema=None) as batch_op:
        batch_op.create_index("ix_async_invocations_endpoint_name", ["endpoint_name"])
        batch_op.create_index("ix_async_invocations_status", ["status"])
        batch_op.create_index("ix_async_invocations_created_at", ["created_at"])


def downgrade() -> None:
    op.drop_table("async_invocations")
    with op.batch_alter_table("endpoint_configs", schema=None) as batch_op:
        batch_op.drop_column("data_capture_config")
        batch_op.drop_column("async_inference_config")
        batch_op.drop_column("shadow_production_variants")
