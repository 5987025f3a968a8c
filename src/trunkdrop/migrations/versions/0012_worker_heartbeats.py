"""worker heartbeats: each `trunkdrop worker` process writes when it last ran a pass

Revision ID: 0012
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0012"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("beat_at", UTC, nullable=False),
        sa.Column("last_step", sa.String(length=64), nullable=True),
        sa.Column("failed_steps", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("worker_id", name="pk_worker_heartbeats"),
    )
    op.create_index("ix_worker_heartbeats_beat_at", "worker_heartbeats", ["beat_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_worker_heartbeats_beat_at", table_name="worker_heartbeats")
    op.drop_table("worker_heartbeats")
