"""Pydantic schemas for parties."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PartyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    role: str
    name: str
    carrier_id: str | None = None
    brand: str | None = None
    language: str = "en"
    timezone: str | None = None
    email: str | None = None


class PartyUpdate(BaseModel):
    """How messages reach the caller; a field left out stays as it is, null clears it."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"language": "de", "timezone": "Europe/Berlin", "email": "anna@example.org"}
            ]
        },
    )

    language: Literal["en", "de"] | None = None
    timezone: str | None = Field(None, max_length=64, description="an IANA zone: Europe/Berlin")
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from None
        return value


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
