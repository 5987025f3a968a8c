"""Pydantic schemas for incidents."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from trunkdrop.schemas import ListPage


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    severity: str
    status: str
    vehicle_id: str | None
    delivery_id: str | None
    attempt_id: str | None
    detail: str
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str | None


class IncidentPage(ListPage[IncidentRead]):
    """A page of incidents, the newest first."""
