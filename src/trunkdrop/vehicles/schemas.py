"""Pydantic schemas for vehicles and car-maker events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.schemas import Latitude, ListPage, Longitude, Timestamp

VehicleEventType = Literal[
    "position",
    "trunk_opened",
    "trunk_closed",
    "locked",
    "unlocked",
    "online",
    "offline",
    "command_executed",
    "command_rejected",
    # Cars that verify grants themselves report each use and each refusal, maybe much later.
    "grant_used",
    "grant_refused",
]


class VehicleLink(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    brand: str = Field(min_length=1, max_length=64, description="the car maker adapter")
    external_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", description="VIN or maker id"
    )
    make: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64)
    year: int = Field(ge=1990, le=2100)
    plate: str = Field(min_length=1, max_length=16)
    colour: str = Field(min_length=1, max_length=32)
    trunk_volume_l: int = Field(ge=20, le=5_000, description="usable trunk volume in litres")


class CapabilitiesRead(BaseModel):
    trunk_only_unlock: bool
    lock_state: bool
    trunk_state: bool
    live_position: bool
    typical_latency_s: int
    rate_limit_per_min: int
    needs_wake: bool = False
    power_tailgate: bool = False
    offline_grants: bool = False
    handset_proximity: bool = False


class VehicleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    brand: str
    external_id: str
    make: str
    model: str
    year: int
    plate: str
    colour: str
    trunk_volume_l: int
    capabilities: CapabilitiesRead
    consent_scopes: list[str]
    consent_expires_at: datetime | None = Field(
        None, description="the car maker's consent ends then unless renewed; null: no end"
    )
    access_blocked: bool
    trunk_delivery_blockers: list[str]
    online: bool
    lock_state: str
    trunk_state: str
    latitude: float | None = None
    longitude: float | None = None
    position_at: datetime | None = None


class VehicleEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    vehicle_id: str = Field(min_length=1, max_length=64, description="the maker's vehicle id")
    type: VehicleEventType
    occurred_at: Timestamp
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    command_id: str | None = Field(None, max_length=64)
    grant_id: str | None = Field(None, max_length=64)
    detail: str | None = Field(None, max_length=200)


class VehicleEventAck(BaseModel):
    event_id: str
    duplicate: bool


class VehiclePage(ListPage[VehicleRead]):
    """A page of the owner's cars, the first linked first."""


class VehicleConsentRequestRead(BaseModel):
    """Send the owner to `authorization_url` (the car maker's page); the maker redirects
    back to the callback, which links the car or renews its consent."""

    id: str
    brand: str
    authorization_url: str
    expires_at: datetime
