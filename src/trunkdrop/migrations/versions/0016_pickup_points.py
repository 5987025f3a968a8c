"""pickup points and lockers: a carrier's points with opening hours and capacity, and the
parcels each holds for its customers (with the hash of the pickup code)

Revision ID: 0016
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0016"
down_revision = "0011"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pickup_points",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("carrier_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("opening_hours", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_id"], ["parties.id"], name="fk_pickup_points_carrier_id_parties"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pickup_points"),
    )
    op.create_index("ix_pickup_points_carrier_id", "pickup_points", ["carrier_id"])
    op.create_table(
        "pickup_point_parcels",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("point_id", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=False),
        sa.Column("code_salt", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("wrong_tries", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("arrived_at", UTC, nullable=False),
        sa.Column("collect_by", UTC, nullable=False),
        sa.Column("ended_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["pickup_points.id"],
            name="fk_pickup_point_parcels_point_id_pickup_points",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_pickup_point_parcels_delivery_id_deliveries",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pickup_point_parcels"),
        sa.UniqueConstraint("delivery_id", name="uq_pickup_point_parcels_delivery_id"),
    )
    for column in ("point_id", "status", "collect_by"):
        op.create_index(f"ix_pickup_point_parcels_{column}", "pickup_point_parcels", [column])


def downgrade() -> None:
    for column in ("point_id", "status", "collect_by"):
        op.drop_index(f"ix_pickup_point_parcels_{column}", table_name="pickup_point_parcels")
    op.drop_table("pickup_point_parcels")
    op.drop_index("ix_pickup_points_carrier_id", table_name="pickup_points")
    op.drop_table("pickup_points")
