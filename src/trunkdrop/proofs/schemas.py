from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class PhotoRead(BaseModel):
    """A proof photo kept for an attempt; its bytes are at GET /v1/attempts/{id}/photo."""

    attempt_id: str
    delivery_id: str
    media_type: str
    size_bytes: int
    sha256: str
    taken_at: datetime
