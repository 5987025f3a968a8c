"""Tables: webhook endpoints, one message per endpoint and event, and each try to send it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    # Operators' endpoints receive every event; others only their own parties' events.
    owner_role: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # Sealed (webhooks.sealing); the plain secret is shown once, at creation or rotation.
    secret: Mapped[str] = mapped_column(String(300))
    # After a rotation, webhooks are signed with both secrets until this moment, so that a
    # receiver can switch without losing any.
    previous_secret: Mapped[str | None] = mapped_column(String(300), default=None)
    previous_secret_until: Mapped[datetime | None] = mapped_column(default=None)
    enabled: Mapped[bool] = mapped_column(default=True, index=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class WebhookMessage(Base):
    """One event to one endpoint: pending until a 2xx answer (succeeded) or the retry
    schedule ran out (failed)."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        Index("ix_webhook_messages_due", "status", "next_try_at"),
        Index("ix_webhook_messages_order", "endpoint_id", "ordering_key", "status", "event_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    # Messages with the same key to the same endpoint are sent one after the other, in the
    # order of their events (a delivery's id, else the event's subject).
    ordering_key: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    tries: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    # Retries go on until this plus `webhook_retry_for_s` (a replay starts it anew).
    retry_from: Mapped[datetime]
    next_try_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookTry(Base):
    __tablename__ = "webhook_tries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("webhook_messages.id"), index=True)
    at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(300), default=None)
    duration_ms: Mapped[int]
