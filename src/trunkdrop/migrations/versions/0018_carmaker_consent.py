"""the car maker's consent: its expiry, and the owner's approvals at the maker in flight

Revision ID: 0018
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Cars linked before keep a consent without expiry (NULL) until their owners renew it.
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_expires_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("consent_expired_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("consent_warned_at", UTC, nullable=True))
        batch_op.create_index("ix_vehicles_consent_expires_at", ["consent_expires_at"])
    op.create_table(
        "vehicle_consent_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("vehicle_id", sa.String(length=32), nullable=True),
        sa.Column("link", sa.JSON(), nullable=True),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["parties.id"], name="fk_vehicle_consent_requests_owner_id_parties"
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name="fk_vehicle_consent_requests_vehicle_id_vehicles"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_vehicle_consent_requests"),
        sa.UniqueConstraint("state_hash", name="uq_vehicle_consent_requests_state_hash"),
    )
    op.create_index(
        "ix_vehicle_consent_requests_owner_id", "vehicle_consent_requests", ["owner_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_vehicle_consent_requests_owner_id", table_name="vehicle_consent_requests")
    op.drop_table("vehicle_consent_requests")
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_index("ix_vehicles_consent_expires_at")
        batch_op.drop_column("consent_warned_at")
        batch_op.drop_column("consent_expired_at")
        batch_op.drop_column("consent_expires_at")
