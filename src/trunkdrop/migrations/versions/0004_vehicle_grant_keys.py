"""vehicle grant keys: which set of the platform's public keys an offline-capable car holds

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grant_keys_digest", sa.String(length=64), nullable=True))
    # Cars linked before: which keys they hold is unknown, so the workers provision them.
    vehicles = sa.table(
        "vehicles",
        sa.column("id", sa.String),
        sa.column("capabilities", sa.JSON),
        sa.column("grant_keys_digest", sa.String),
    )
    conn = op.get_bind()
    for vehicle_id, capabilities in conn.execute(sa.select(vehicles.c.id, vehicles.c.capabilities)):
        if (capabilities or {}).get("offline_grants"):
            conn.execute(
                vehicles.update()
                .where(vehicles.c.id == vehicle_id)
                .values(grant_keys_digest="unknown")
            )


def downgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_column("grant_keys_digest")
