"""Pydantic schemas for parties."""

from __future__ import annotations

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


class KeysRevoked(BaseModel):
    party_id: str
    revoked: int
