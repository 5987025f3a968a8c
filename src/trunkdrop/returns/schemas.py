"""Pydantic schemas for return authorisations and booking their pickup."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.deliveries.schemas import DoorWindowIn, FallbackAddressIn, ItineraryEntryIn
from trunkdrop.schemas import ListPage

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ItemIn(BaseModel):
    """The returned item's size and weight: a parcel without a reference (the label's
    tracking number becomes it)."""

    model_config = _STRICT

    length_cm: int = Field(ge=1, le=1_000)
    width_cm: int = Field(ge=1, le=1_000)
    height_cm: int = Field(ge=1, le=1_000)
    weight_g: int = Field(ge=1, le=1_000_000)
    declared_value_cents: int = Field(ge=0, le=100_000_000)


class ReturnCreate(BaseModel):
    model_config = _STRICT

    customer_id: str = Field(min_length=1, max_length=32)
    order_ref: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=300)
    parcel: ItemIn


class PickupCreate(BaseModel):
    """Where the customer's car stands when (one place and window, or the day's itinerary):
    the same choice as a delivery's checkout."""

    model_config = _STRICT

    vehicle_id: str = Field(min_length=1, max_length=32)
    itinerary: list[ItineraryEntryIn] = Field(min_length=1, max_length=6)


class DoorPickupCreate(BaseModel):
    """A pickup at the door, for a customer without an eligible car: the address, the day,
    and when somebody is in (none: all day)."""

    model_config = _STRICT

    address: FallbackAddressIn
    service_date: date
    door_window: DoorWindowIn | None = None


class ReturnRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    retailer_id: str
    customer_id: str
    order_ref: str
    reason: str
    tracking_number: str
    code_payload: str
    delivery_id: str | None
    # authorised (no pickup yet), then the pickup's status: booked, out_for_delivery,
    # collected, not_collected, cancelled.
    status: str
    parcel_ready_at: datetime | None
    created_at: datetime


class ReturnPage(ListPage[ReturnRead]):
    """A page of returns, the newest first."""
