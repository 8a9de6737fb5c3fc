"""endpoint updates: the deployment in progress, and which config each instance serves

During an update an endpoint runs two fleets, so an instance names its config (rows from
before name none: they serve the endpoint's own). An instance also keeps how long its model
server took to start (ModelSetupTime).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deployment", sa.JSON(), nullable=True))
    with op.batch_alter_table("endpoint_instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("endpoint_config_name", sa.String(length=63), nullable=True))
        batch_op.add_column(sa.Column("setup_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoint_instances", schema=None) as batch_op:
        batch_op.drop_column("setup_seconds")
        batch_op.drop_column("endpoint_config_name")
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_column("deployment")
