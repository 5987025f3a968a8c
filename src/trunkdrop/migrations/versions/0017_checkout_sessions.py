"""checkout sessions for the shop's checkout widget (the hash of their token only)

Revision ID: 0017
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checkout_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("retailer_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("consent_id", sa.String(length=32), nullable=False),
        sa.Column("parcel_reference", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["retailer_id"], ["parties.id"], name="fk_checkout_sessions_retailer_id_parties"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["parties.id"], name="fk_checkout_sessions_customer_id_parties"
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name="fk_checkout_sessions_consent_id_consents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_checkout_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_checkout_sessions_token_hash"),
    )
    op.create_index("ix_checkout_sessions_retailer_id", "checkout_sessions", ["retailer_id"])
    op.create_index("ix_checkout_sessions_customer_id", "checkout_sessions", ["customer_id"])
    op.create_index("ix_checkout_sessions_consent_id", "checkout_sessions", ["consent_id"])
    op.create_index("ix_checkout_sessions_expires_at", "checkout_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_checkout_sessions_expires_at", table_name="checkout_sessions")
    op.drop_index("ix_checkout_sessions_consent_id", table_name="checkout_sessions")
    op.drop_index("ix_checkout_sessions_customer_id", table_name="checkout_sessions")
    op.drop_index("ix_checkout_sessions_retailer_id", table_name="checkout_sessions")
    op.drop_table("checkout_sessions")
