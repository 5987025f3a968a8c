"""keys by handset and incident handling: an API key may come with a handset (revoked with
it); an incident records who acknowledged and who resolved it

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("label", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("device_id", sa.String(length=32), nullable=True))
        batch.create_index("ix_api_keys_device_id", ["device_id"])
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column(
                "acknowledged_at", trunkdrop.store.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("resolved_by")
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_device_id")
        batch.drop_column("device_id")
        batch.drop_column("label")
