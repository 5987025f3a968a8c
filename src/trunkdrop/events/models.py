"""The event log: every published event once, in the order it was recorded, with the
parties who may read it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class LoggedEvent(Base):
    __tablename__ = "events"

    # The cursor of the feed: increasing in the order events were recorded.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # The public id (the webhook-id of every webhook that carries it).
    key: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime]
    delivery_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    subject: Mapped[str] = mapped_column(String(32))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    party_ids: Mapped[list[str]] = mapped_column(JSON)
    # On PostgreSQL the id of the transaction that recorded the event: ids are handed out
    # before commit, so the feed holds back events newer than the oldest transaction still
    # running (see `service.feed`). SQLite commits one writer at a time and leaves it empty.
    tx: Mapped[int | None] = mapped_column(BigInteger, default=None)


class EventAudience(Base):
    """One row per party who may read an event: the feed's index (operators read all)."""

    __tablename__ = "event_audience"

    party_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)
