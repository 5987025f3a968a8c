"""Pydantic schemas for devices, challenges and the proof a device sends with a request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.schemas import ListPage

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
B64U = r"^[A-Za-z0-9_-]+$"
PublicKeyText = Annotated[
    str,
    Field(
        min_length=43,
        max_length=43,
        pattern=B64U,
        description="raw Ed25519 public key, base64url without padding",
    ),
]


class DeviceRegister(BaseModel):
    model_config = _STRICT

    public_key: PublicKeyText
    label: str = Field("handset", min_length=1, max_length=64)


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    driver_id: str
    label: str
    public_key: str
    created_at: datetime
    approved_at: datetime | None = None
    approved_by: str | None = None
    revoked_at: datetime | None = None


class ChallengeRequest(BaseModel):
    model_config = _STRICT

    device_id: str = Field(min_length=1, max_length=32)


class ChallengeRead(BaseModel):
    """Sign `proof_message(nonce, action, attempt_id)` with the device key and send it back."""

    model_config = ConfigDict(from_attributes=True)

    nonce: str
    device_id: str
    attempt_id: str
    action: str
    expires_at: datetime


class DeviceProof(BaseModel):
    """The device's answer to a challenge, carried by an access request."""

    model_config = _STRICT

    device_id: str = Field(min_length=1, max_length=32)
    nonce: str = Field(min_length=1, max_length=64, pattern=B64U)
    signature: str = Field(min_length=1, max_length=100, pattern=B64U)


class DevicePage(ListPage[DeviceRead]):
    """A page of handsets, the first registered first."""
