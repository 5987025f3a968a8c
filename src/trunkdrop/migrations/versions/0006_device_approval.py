"""device approval: a handset registered with the driver's API key signs only after the
driver's carrier (or an operator) approves it

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approved_at", trunkdrop.store.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("approved_by", sa.String(length=32), nullable=True))
    # Handsets registered before approval existed were in use: they stay usable (approved
    # when registered, by nobody named). Carriers review them with GET /v1/devices.
    devices = sa.table(
        "devices",
        sa.column("created_at", trunkdrop.store.base.UTCDateTime(timezone=True)),
        sa.column("approved_at", trunkdrop.store.base.UTCDateTime(timezone=True)),
    )
    op.get_bind().execute(devices.update().values(approved_at=devices.c.created_at))


def downgrade() -> None:
    # Dropped in place (SQLite 3.35+ and PostgreSQL): a batch rebuild of `devices` would
    # drop the table under its foreign keys (device_nonces) and fail once nonces exist.
    op.drop_column("devices", "approved_by")
    op.drop_column("devices", "approved_at")
