"""consents and privacy: shops' OAuth clients, authorisation codes, customers' consents

Revision ID: 0011
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0011"
down_revision = "0012"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("retailer_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["retailer_id"], ["parties.id"], name="fk_oauth_clients_retailer_id_parties"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_clients"),
    )
    op.create_index("ix_oauth_clients_retailer_id", "oauth_clients", ["retailer_id"])
    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_clients.id"], name="fk_oauth_codes_client_id_oauth_clients"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["parties.id"], name="fk_oauth_codes_customer_id_parties"
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_oauth_codes"),
    )
    op.create_index("ix_oauth_codes_client_id", "oauth_codes", ["client_id"])
    op.create_index("ix_oauth_codes_customer_id", "oauth_codes", ["customer_id"])
    op.create_index("ix_oauth_codes_expires_at", "oauth_codes", ["expires_at"])
    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("retailer_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_clients.id"], name="fk_consents_client_id_oauth_clients"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["parties.id"], name="fk_consents_customer_id_parties"
        ),
        sa.ForeignKeyConstraint(
            ["retailer_id"], ["parties.id"], name="fk_consents_retailer_id_parties"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.UniqueConstraint("token_hash", name="uq_consents_token_hash"),
    )
    op.create_index("ix_consents_customer_id", "consents", ["customer_id"])
    op.create_index("ix_consents_retailer_id", "consents", ["retailer_id"])


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_table("oauth_codes")
    op.drop_table("oauth_clients")
