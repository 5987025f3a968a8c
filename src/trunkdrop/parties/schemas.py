"""Pydantic schemas for parties."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PartyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    role: str
    name: str
    carrier_id: str | None = None
    brand: str | None = None


class ApiKeyRequest(BaseModel):
    """What the new key is for: a label a person recognises it by, and optionally the
    handset it lives on (revoking the handset revokes the key)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=64, examples=["Jonas's new phone"])
    device_id: str | None = Field(None, max_length=32)


class ApiKeyIssued(BaseModel):
    """A new API key. `api_key` is shown this once; trunkdrop keeps only its hash."""

    party_id: str
    key_id: str
    prefix: str
    label: str | None
    api_key: str
    device_id: str | None
    created_at: datetime


class KeysRevoked(BaseModel):
    party_id: str
    revoked: int
