"""sign-in links and browser sessions for the pages (hashes of their secrets only)

Revision ID: 0013
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0013"
down_revision = "0015"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signin_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name="fk_signin_links_party_id_parties"
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_signin_links"),
    )
    op.create_index("ix_signin_links_party_id", "signin_links", ["party_id"])
    op.create_index("ix_signin_links_expires_at", "signin_links", ["expires_at"])
    op.create_table(
        "browser_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("ended_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name="fk_browser_sessions_party_id_parties"
        ),
        sa.PrimaryKeyConstraint("id_hash", name="pk_browser_sessions"),
    )
    op.create_index("ix_browser_sessions_party_id", "browser_sessions", ["party_id"])
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_browser_sessions_expires_at", table_name="browser_sessions")
    op.drop_index("ix_browser_sessions_party_id", table_name="browser_sessions")
    op.drop_table("browser_sessions")
    op.drop_index("ix_signin_links_expires_at", table_name="signin_links")
    op.drop_index("ix_signin_links_party_id", table_name="signin_links")
    op.drop_table("signin_links")
