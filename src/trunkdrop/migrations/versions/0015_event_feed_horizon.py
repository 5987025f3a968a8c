"""the event feed's horizon: the transaction that recorded each event (PostgreSQL)

Revision ID: 0015
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        # Events recorded before the horizon existed are all committed: NULL reads as final.
        batch_op.add_column(sa.Column("tx", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("tx")
