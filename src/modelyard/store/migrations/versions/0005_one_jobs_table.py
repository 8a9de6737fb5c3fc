"""one jobs table: every kind of job in `jobs`, what the kind asked for in `spec`

Training and processing jobs shared `training_jobs` with a column per training field. The
table becomes `jobs`: the life cycle every kind shares stays in columns; the kind's own fields
move into `spec` (training: algorithm, script, metric_definitions, hyperparameters, channels,
output_path; processing: its code, command, inputs and outputs), the model artifact into
`result`, and the process's pid and create time into the executor's `handle`. Rows keep their
ids, so secondary-status transitions and metric points stay attached.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TRAINING_FIELDS = ("algorithm", "script", "metric_definitions", "hyperparameters", "output_path")
OLD_INDEXES = ("created_at", "kind", "name", "status")
MOVED = (*TRAINING_FIELDS, "input_data_config", "processing", "model_artifact", "pid",
         "pid_started_at")  # fmt: skip


def upgrade() -> None:
    for column in OLD_INDEXES:
        op.drop_index(f"ix_training_jobs_{column}", table_name="training_jobs")
    # Renaming keeps the foreign keys of transitions and metric points pointing at the rows
    # (PostgreSQL by oid; SQLite >= 3.26 rewrites the references).
    op.rename_table("training_jobs", "jobs")
    op.add_column("jobs", sa.Column("parent", sa.String(length=63), nullable=True))
    # NOT NULL with a default is the one way SQLite adds such a column without a rebuild.
    op.add_column("jobs", sa.Column("spec", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("jobs", sa.Column("result", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("jobs", sa.Column("handle", sa.JSON(), nullable=True))

    jobs = sa.table(
        "jobs",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("spec", sa.JSON),
        sa.column("result", sa.JSON),
        sa.column("handle", sa.JSON),
        sa.column("input_data_config", sa.JSON),
        sa.column("processing", sa.JSON),
        sa.column("model_artifact", sa.Text),
        sa.column("pid", sa.Integer),
        sa.column("pid_started_at", sa.Float),
        sa.column("algorithm", sa.String),
        sa.column("output_path", sa.Text),
        *(sa.column(name, sa.JSON) for name in ("script", "metric_definitions", "hyperparameters")),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(jobs)).mappings().all():
        if row["kind"] == "processing":
            spec = dict(row["processing"] or {})
        else:
            spec = {name: row[name] for name in TRAINING_FIELDS}
            spec["channels"] = row["input_data_config"] or []
        result = {"model_artifact": row["model_artifact"]} if row["model_artifact"] else {}
        handle = (
            {"pid": row["pid"], "started_at": row["pid_started_at"] or 0.0}
            if row["pid"] is not None
            else None
        )
        connection.execute(
            sa.update(jobs)
            .where(jobs.c.id == row["id"])
            .values(spec=spec, result=result, handle=handle)
        )

    # SQLite >= 3.35 and PostgreSQL both drop a column in place (no table rebuild, which on
    # SQLite would cascade-delete the transitions of every job).
    for column in MOVED:
        op.drop_column("jobs", column)
    for column, unique in (*((c, c == "name") for c in OLD_INDEXES), ("parent", False)):
        op.create_index(f"ix_jobs_{column}", "jobs", [column], unique=unique)


def downgrade() -> None:
    raise NotImplementedError("jobs cannot be split back into training_jobs")
