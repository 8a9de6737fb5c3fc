"""an endpoint's live variants: weights and instance counts apart from its config

UpdateEndpointWeightsAndCapacities changes a running endpoint's weights and instance counts
without a new config, so the endpoint keeps its own copy. Existing endpoints start from their
config's initial values.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variants", sa.JSON(), nullable=True))
    endpoints = sa.table(
        "endpoints",
        sa.column("id", sa.Integer),
        sa.column("endpoint_config_name", sa.String),
        sa.column("variants", sa.JSON),
    )
    configs = sa.table(
        "endpoint_configs", sa.column("name", sa.String), sa.column("production_variants", sa.JSON)
    )
    connection = op.get_bind()
    connection.execute(endpoints.update().values(variants=[]))
    rows = connection.execute(
        sa.select(endpoints.c.id, configs.c.production_variants).join(
            configs, configs.c.name == endpoints.c.endpoint_config_name
        )
    ).all()
    for endpoint_id, variants in rows:
        if isinstance(variants, str):
            variants = json.loads(variants)
        live = [
            {
                "variant_name": v["variant_name"],
                "current_weight": v.get("initial_variant_weight", 1.0),
                "desired_weight": v.get("initial_variant_weight", 1.0),
                "desired_instance_count": v["initial_instance_count"],
            }
            for v in variants or []
        ]
        connection.execute(
            endpoints.update().where(endpoints.c.id == endpoint_id).values(variants=live)
        )
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.alter_column("variants", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_column("variants")
