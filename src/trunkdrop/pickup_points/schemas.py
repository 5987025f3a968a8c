"""Pydantic schemas for pickup points, their opening hours and collections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trunkdrop.pickup_points.domain import parse_hhmm
from trunkdrop.schemas import Latitude, ListPage, Longitude

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
# "08:00"; "24:00" closes at midnight.
HourMinute = Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


class OpeningInterval(BaseModel):
    model_config = _STRICT

    opens: HourMinute
    closes: HourMinute

    @model_validator(mode="after")
    def _closes_after_opening(self) -> OpeningInterval:
        if self.opens == "24:00":
            raise ValueError("a point cannot open at 24:00; use 00:00 of the next day")
        opens, closes = parse_hhmm(self.opens), parse_hhmm(self.closes)
        if closes is not None and opens is not None and closes <= opens:
            raise ValueError(f"closes ({self.closes}) must be after opens ({self.opens})")
        return self


DayHours = Annotated[list[OpeningInterval], Field(max_length=4)]


class OpeningHours(BaseModel):
    """Per weekday the intervals the point is open, in the platform's local time; a day
    left out or empty is a closed day. A locker open around the clock: 00:00–24:00 daily."""

    model_config = _STRICT

    mon: DayHours = []
    tue: DayHours = []
    wed: DayHours = []
    thu: DayHours = []
    fri: DayHours = []
    sat: DayHours = []
    sun: DayHours = []


class PickupPointCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=100)
    kind: Literal["point", "locker"]
    address: str = Field(min_length=1, max_length=300)
    latitude: Latitude
    longitude: Longitude
    opening_hours: OpeningHours
    capacity: int = Field(ge=1, le=10_000, description="parcels the point holds at once")


class PickupPointUpdate(BaseModel):
    """The fields to change; those left out stay as they are."""

    model_config = _STRICT

    name: str | None = Field(None, min_length=1, max_length=100)
    kind: Literal["point", "locker"] | None = None
    address: str | None = Field(None, min_length=1, max_length=300)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    opening_hours: OpeningHours | None = None
    capacity: int | None = Field(None, ge=1, le=10_000)


class PickupPointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    carrier_id: str
    name: str
    kind: str
    address: str
    latitude: float
    longitude: float
    opening_hours: OpeningHours
    capacity: int
    stock: int = Field(description="parcels held now for their customers")


class PickupPointPage(ListPage[PickupPointRead]):
    """A page of the carrier's pickup points, oldest first."""


class CollectionCreate(BaseModel):
    """The customer at the point: the parcel's label as the staff scan it and the code the
    customer was sent."""

    model_config = _STRICT

    parcel_ref: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=32)


class CollectionRead(BaseModel):
    delivery_id: str
    parcel_ref: str
    point_id: str
    status: str
    collected_at: datetime
