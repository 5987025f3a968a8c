"""customer messages and idempotency keys: a party's language, time zone and e-mail
address; the answers to creates sent with an Idempotency-Key

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("parties", schema=None) as batch_op:
        # Parties made before messages were written read English, in the platform's zone.
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="en")
        )
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
    op.create_table(
        "idempotency_keys",
        sa.Column("party_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("party_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_column("email")
        batch_op.drop_column("timezone")
        batch_op.drop_column("language")
