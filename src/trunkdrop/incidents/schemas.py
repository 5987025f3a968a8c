"""Pydantic schemas for incidents."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

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
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None


class IncidentNote(BaseModel):
    """What the operator did about it, in a few words (kept in the audit chain)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=200)


class IncidentPage(ListPage[IncidentRead]):
    """A page of incidents, the newest first."""
