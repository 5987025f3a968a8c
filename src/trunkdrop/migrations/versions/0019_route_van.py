"""the van and shift a route is planned for, kept for its re-plans and loading check

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Routes planned before keep NULL: the settings' van and shift stand in for them.
    with op.batch_alter_table("routes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity_l", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("shift_start_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("shift_end_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routes", schema=None) as batch_op:
        batch_op.drop_column("shift_end_s")
        batch_op.drop_column("shift_start_s")
        batch_op.drop_column("capacity_l")
