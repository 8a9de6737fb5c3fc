"""Model Monitor's monitoring schedules

A schedule's monitoring jobs carry "schedule:<its id>" as their parent.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_schedules",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=False),
        sa.Column("schedule_expression", sa.String(256), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_name", sa.String(63), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("name", "status", "endpoint_name", "next_run_at", "created_at"):
        op.create_index(
            f"ix_monitoring_schedules_{column}",
            "monitoring_schedules",
            [column],
            unique=column == "name",
        )


def downgrade() -> None:
    op.drop_table("monitoring_schedules")
