"""Pydantic schemas for parties."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PartyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    role: str
    name: str
    carrier_id: str | None = None
    brand: str | None = None


class KeysRevoked(BaseModel):
    party_id: str
    revoked: int
