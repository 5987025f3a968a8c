"""Table of incidents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    vehicle_id: Mapped[str | None] = mapped_column(String(32), default=None)
    delivery_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    attempt_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    detail: Mapped[str] = mapped_column(String(500))
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution: Mapped[str | None] = mapped_column(String(200), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(32), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(32), default=None)
