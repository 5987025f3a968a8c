"""events and webhooks: the log of published events, who may read each, webhook endpoints,
one message per endpoint and event, and each try to send it

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trunkdrop.store.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC = trunkdrop.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=True),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("party_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("key", name="uq_events_key"),
    )
    op.create_index("ix_events_delivery_id", "events", ["delivery_id"])
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_table(
        "event_audience",
        sa.Column("party_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_event_audience_event_id_events"
        ),
        sa.PrimaryKeyConstraint("party_id", "event_id", name="pk_event_audience"),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("owner_role", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=300), nullable=False),
        sa.Column("previous_secret", sa.String(length=300), nullable=True),
        sa.Column("previous_secret_until", UTC, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["parties.id"], name="fk_webhook_endpoints_owner_id_parties"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
    )
    op.create_index("ix_webhook_endpoints_enabled", "webhook_endpoints", ["enabled"])
    op.create_index("ix_webhook_endpoints_owner_id", "webhook_endpoints", ["owner_id"])
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("endpoint_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("ordering_key", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("retry_from", UTC, nullable=False),
        sa.Column("next_try_at", UTC, nullable=False),
        sa.Column("ended_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_messages_endpoint_id_webhook_endpoints",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_webhook_messages_event_id_events"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_messages"),
    )
    op.create_index("ix_webhook_messages_due", "webhook_messages", ["status", "next_try_at"])
    op.create_index(
        "ix_webhook_messages_order",
        "webhook_messages",
        ["endpoint_id", "ordering_key", "status", "event_id"],
    )
    op.create_table(
        "webhook_tries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["webhook_messages.id"],
            name="fk_webhook_tries_message_id_webhook_messages",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_tries"),
    )
    op.create_index("ix_webhook_tries_message_id", "webhook_tries", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_tries_message_id", table_name="webhook_tries")
    op.drop_table("webhook_tries")
    op.drop_index("ix_webhook_messages_order", table_name="webhook_messages")
    op.drop_index("ix_webhook_messages_due", table_name="webhook_messages")
    op.drop_table("webhook_messages")
    op.drop_index("ix_webhook_endpoints_owner_id", table_name="webhook_endpoints")
    op.drop_index("ix_webhook_endpoints_enabled", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_table("event_audience")
    op.drop_index("ix_events_kind", table_name="events")
    op.drop_index("ix_events_delivery_id", table_name="events")
    op.drop_table("events")
