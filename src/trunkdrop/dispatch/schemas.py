"""Pydantic schemas for service areas, routes and stops."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.schemas import Latitude, ListPage, Longitude

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ServiceAreaCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=100)
    latitude: Latitude
    longitude: Longitude
    radius_m: int = Field(ge=100, le=200_000)
    depot_latitude: Latitude
    depot_longitude: Longitude


class ServiceAreaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    carrier_id: str
    name: str
    latitude: float
    longitude: float
    radius_m: int
    # Only to the carrier itself, its drivers and operators.
    depot_latitude: float | None
    depot_longitude: float | None


class RouteCreate(BaseModel):
    model_config = _STRICT

    driver_id: str = Field(min_length=1, max_length=32)
    service_date: date
    delivery_ids: list[str] = Field(min_length=1, max_length=500)


class VehicleBrief(BaseModel):
    plate: str
    make: str
    model: str
    colour: str
    # Only inside the window, and only while the car stands at the booked place: the car's
    # position is the owner's personal data.
    latitude: float | None = None
    longitude: float | None = None
    # Inside the window: whether the car reported standing at the booked place (None
    # outside the window, or when it has not reported where it is lately).
    at_place: bool | None = None


class StopRead(BaseModel):
    id: str
    route_id: str
    seq: int
    status: str
    mode: str
    # delivery: the parcel goes into the trunk; return | send: a pickup, it comes out.
    purpose: str = "delivery"
    # What the van does here: a delivery's load leaves it, a pickup's joins it.
    load: Literal["delivery", "pickup"] = "delivery"
    is_next: bool
    delivery_id: str
    parcel_ref: str
    label: str
    address: str
    latitude: float
    longitude: float
    parking_notes: str
    window_start: datetime | None
    window_end: datetime | None
    eta: datetime | None = None
    vehicle: VehicleBrief | None
    attempt_id: str | None


class RouteRead(BaseModel):
    id: str
    carrier_id: str
    driver_id: str
    service_date: date
    status: str
    stops: list[StopRead]


class UnplannedRead(BaseModel):
    """A delivery the plan could not serve, and why (window_unreachable, shift, capacity,
    no_van); it stays booked for another window."""

    delivery_id: str
    reason: str


class PlanRead(BaseModel):
    routes: list[RouteRead]
    unplanned: list[UnplannedRead]


class PlanCreate(BaseModel):
    model_config = _STRICT

    service_date: date
    driver_ids: list[str] = Field(min_length=1, max_length=200)
    van_capacity_l: int = Field(6_000, ge=50, le=50_000)
    shift_start: time = time(8, 0)
    shift_end: time = time(21, 0)
    seconds: float = Field(5.0, gt=0, le=600)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    # Bound the search by iterations instead of seconds: the same input, the same plan.
    iterations: int | None = Field(None, ge=1, le=1_000_000)
    home_as_option: bool = True
    # Plan only these (e.g. one zone of a big depot); all of the day's when left out.
    delivery_ids: list[Annotated[str, Field(max_length=32)]] | None = Field(None, max_length=5_000)


class ReplanCreate(BaseModel):
    model_config = _STRICT

    service_date: date
    # Left out, each van keeps the capacity and shift end it was planned with.
    van_capacity_l: int | None = Field(
        None, ge=50, le=50_000, description="every van's capacity now; left out: as planned"
    )
    shift_end_hour: int | None = Field(
        None, ge=1, le=24, description="every van's shift end now; left out: as planned"
    )
    seconds: float = Field(5.0, gt=0, le=600)


class ServiceAreaPage(ListPage[ServiceAreaRead]):
    """A page of service areas, the first created first."""


class RoutePage(ListPage[RouteRead]):
    """A page of routes, by day."""


class StopPage(ListPage[StopRead]):
    """A page of stops, by day, route and sequence."""
