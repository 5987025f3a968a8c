"""Pydantic schemas for the event feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class EventRead(BaseModel):
    """One published event: `id` is stable (the `webhook-id` of every webhook carrying it),
    `cursor` orders the feed."""

    id: str
    cursor: int
    type: str
    occurred_at: datetime
    delivery_id: str | None
    subject: str
    facts: dict[str, Any]


class EventPage(BaseModel):
    data: list[EventRead]
    # Pass as `after` to read on; when nothing was returned, the cursor given.
    next_cursor: int
    has_more: bool
