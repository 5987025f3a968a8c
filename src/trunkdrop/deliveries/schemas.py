"""Pydantic schemas for checkout, booking, deliveries and attempts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.schemas import Latitude, Longitude, Position, Timestamp

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ParcelIn(BaseModel):
    model_config = _STRICT

    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    length_cm: int = Field(ge=1, le=1_000)
    width_cm: int = Field(ge=1, le=1_000)
    height_cm: int = Field(ge=1, le=1_000)
    weight_g: int = Field(ge=1, le=1_000_000)
    declared_value_cents: int = Field(ge=0, le=100_000_000)
    signature_required: bool = False
    age_restricted: bool = False
    perishable: bool = False
    hazardous: bool = False


class CheckoutRequest(BaseModel):
    model_config = _STRICT

    customer_id: str = Field(min_length=1, max_length=32)
    date: date
    parcel: ParcelIn


class RuleRead(BaseModel):
    code: str
    message: str
    field: str | None = None
    vehicle_id: str | None = None
    place_id: str | None = None


class CheckoutOption(BaseModel):
    vehicle_id: str
    place_id: str
    label: str
    address: str
    carrier_id: str
    window_start: datetime
    window_end: datetime


class CheckoutOptionsRead(BaseModel):
    trunk_possible: bool
    options: list[CheckoutOption]
    reasons: list[RuleRead]


class ItineraryEntryIn(BaseModel):
    model_config = _STRICT

    place_id: str = Field(min_length=1, max_length=32)
    window_start: Timestamp
    window_end: Timestamp


class FallbackAddressIn(BaseModel):
    model_config = _STRICT

    address: str = Field(min_length=1, max_length=300)
    latitude: Latitude
    longitude: Longitude


class DeliveryCreate(BaseModel):
    model_config = _STRICT

    customer_id: str = Field(min_length=1, max_length=32)
    # Without a car this is a delivery to the door: `fallback_address` and `service_date` then.
    vehicle_id: str | None = Field(None, min_length=1, max_length=32)
    retailer_reference: str = Field(min_length=1, max_length=64)
    parcel: ParcelIn
    itinerary: list[ItineraryEntryIn] = Field(default_factory=list, max_length=6)
    fallback_address: FallbackAddressIn | None = None
    service_date: date | None = None


class ItineraryEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    place_id: str
    label: str
    address: str
    latitude: float
    longitude: float
    window_start: datetime
    window_end: datetime


class TimelineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    text: str


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    delivery_id: str
    stop_id: str
    mode: str
    option_seq: int | None
    status: str
    started_at: datetime
    access_requested_at: datetime | None
    trunk_opened_at: datetime | None
    deposited_at: datetime | None
    secured_at: datetime | None
    ended_at: datetime | None
    failure_reason: str | None
    failure_detail: str | None


class DeliveryRead(BaseModel):
    id: str
    status: str
    mode: str
    outcome: str | None
    outcome_reason: str | None
    retailer_id: str
    retailer_reference: str
    customer_id: str
    carrier_id: str
    vehicle_id: str | None
    service_date: date
    parcel_ref: str
    current_option: int | None
    itinerary: list[ItineraryEntryRead]
    fallback_address: str | None
    created_at: datetime
    ended_at: datetime | None
    attempts: list[AttemptRead]
    timeline: list[TimelineRead]


class AttemptStart(BaseModel):
    model_config = _STRICT

    position: Position
    scanned_parcel_ref: str = Field(min_length=1, max_length=64)


class AccessRequest(BaseModel):
    model_config = _STRICT

    position: Position


class AccessGranted(BaseModel):
    attempt: AttemptRead
    grant_id: str
    grant_expires_at: datetime
    command_id: str
    command_expires_at: datetime


DriverReason = Literal[
    "vehicle_not_found",
    "trunk_full",
    "trunk_not_opened",
    "parcel_damaged",
    "nobody_home",
    "address_not_found",
    "other",
]


class FailureReport(BaseModel):
    model_config = _STRICT

    reason: DriverReason
    detail: str | None = Field(None, max_length=300)
