"""returns and pickups: a delivery's purpose (delivery, return, send), its label's 2-D code
and when the customer said the parcel is in the trunk; return authorisations; sends (postage
bought for a letter or parcel left in the trunk)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        # Every delivery booked before pickups existed is a delivery.
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=8), nullable=False, server_default="delivery")
        )
        batch_op.add_column(sa.Column("label_code", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("parcel_ready_at", UTC, nullable=True))
    op.create_table(
        "return_authorisations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("retailer_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("order_ref", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("code_payload", sa.String(length=200), nullable=False),
        sa.Column("parcel", sa.JSON(), nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["retailer_id"], ["parties.id"], name="fk_return_authorisations_retailer_id_parties"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["parties.id"], name="fk_return_authorisations_customer_id_parties"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_return_authorisations_delivery_id_deliveries",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_return_authorisations"),
        sa.UniqueConstraint("tracking_number", name="uq_return_authorisations_tracking_number"),
    )
    for column in ("retailer_id", "customer_id", "delivery_id"):
        op.create_index(f"ix_return_authorisations_{column}", "return_authorisations", [column])
    op.create_table(
        "sends",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("postage_class", sa.String(length=32), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("paid_at", UTC, nullable=True),
        sa.Column("recipient_name", sa.String(length=100), nullable=False),
        sa.Column("recipient_address", sa.String(length=300), nullable=False),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("code_payload", sa.String(length=200), nullable=False),
        sa.Column("parcel", sa.JSON(), nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["parties.id"], name="fk_sends_customer_id_parties"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name="fk_sends_delivery_id_deliveries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sends"),
        sa.UniqueConstraint("tracking_number", name="uq_sends_tracking_number"),
    )
    op.create_index("ix_sends_customer_id", "sends", ["customer_id"])
    op.create_index("ix_sends_delivery_id", "sends", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_sends_delivery_id", table_name="sends")
    op.drop_index("ix_sends_customer_id", table_name="sends")
    op.drop_table("sends")
    for column in ("retailer_id", "customer_id", "delivery_id"):
        op.drop_index(f"ix_return_authorisations_{column}", table_name="return_authorisations")
    op.drop_table("return_authorisations")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("parcel_ready_at")
        batch_op.drop_column("label_code")
        batch_op.drop_column("purpose")
