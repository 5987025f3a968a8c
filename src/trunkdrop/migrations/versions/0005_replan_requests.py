"""replan requests: routes the planner re-orders after a failed stop or a late van

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replan_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("route_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("requested_at", trunkdrop.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", trunkdrop.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["route_id"], ["routes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_replan_requests_done_at", "replan_requests", ["done_at"])
    op.create_index("ix_replan_requests_route_id", "replan_requests", ["route_id"])


def downgrade() -> None:
    op.drop_index("ix_replan_requests_route_id", table_name="replan_requests")
    op.drop_index("ix_replan_requests_done_at", table_name="replan_requests")
    op.drop_table("replan_requests")
