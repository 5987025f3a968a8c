"""The outbox: every message to a party is a row first, sent by a worker after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[str] = mapped_column(String(32), index=True)
    delivery_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
