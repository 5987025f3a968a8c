"""driver fixes: the last position each driver's handset reported, the track a new one
must follow plausibly

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "driver_fixes",
        sa.Column("driver_id", sa.String(length=32), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("at", trunkdrop.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["driver_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("driver_id"),
    )


def downgrade() -> None:
    op.drop_table("driver_fixes")
