"""Pydantic schemas for checkout, booking, deliveries and attempts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.devices.schemas import ChallengeRead, DeviceProof
from trunkdrop.schemas import Latitude, ListPage, Longitude, Position, Timestamp

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
    # Stable for the same car, place and window: the checkout widget hands it back to the
    # shop's page, and the shop finds the option again by it.
    id: str
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


class DoorWindowIn(BaseModel):
    model_config = _STRICT

    start: Timestamp
    end: Timestamp


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
    # When somebody is at the fallback address to take the parcel.
    door_window: DoorWindowIn | None = None


class DeliveryMove(BaseModel):
    """A booking's new itinerary: its windows, its places, or both (while still booked)."""

    model_config = _STRICT

    itinerary: list[ItineraryEntryIn] = Field(min_length=1, max_length=6)


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
    # delivery, or a pickup from the trunk: return | send.
    purpose: str = "delivery"
    # A pickup: when the customer said its parcel is in the trunk.
    parcel_ready_at: datetime | None = None
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
    # The parcel in the driver's hand (a delivery); a pickup's label is scanned in the trunk
    # (`POST /v1/attempts/{id}/collect`), so a pickup starts without one.
    scanned_parcel_ref: str | None = Field(None, min_length=1, max_length=64)
    # The handset that will sign the access request: its challenge then comes with the
    # attempt, one round trip fewer at the car (POST /challenge still gives a fresh one).
    device_id: str | None = Field(None, min_length=1, max_length=32)


class AttemptStarted(AttemptRead):
    """The attempt just started, and the named handset's challenge (see `AttemptStart`)."""

    challenge: ChallengeRead | None = None


class AccessRequest(BaseModel):
    """The driver at the car, with the device's answer to a fresh challenge
    (`POST /v1/attempts/{id}/challenge`): its signature over (nonce, action, attempt)."""

    model_config = _STRICT

    position: Position
    device_id: str | None = Field(None, min_length=1, max_length=32)
    nonce: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    signature: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")

    def proof(self) -> DeviceProof | None:
        if self.device_id is None or self.nonce is None or self.signature is None:
            return None
        return DeviceProof(device_id=self.device_id, nonce=self.nonce, signature=self.signature)


class AccessGranted(BaseModel):
    attempt: AttemptRead
    grant_id: str
    grant_expires_at: datetime
    # Online cars: the unlock command the platform sends.
    command_id: str | None = None
    command_expires_at: datetime | None = None
    # Cars that verify grants themselves: the grant, for this device to present to the car.
    grant_token: str | None = None


DriverReason = Literal[
    "vehicle_not_found",
    "trunk_full",
    "trunk_not_opened",
    "parcel_damaged",
    "nobody_home",
    "address_not_found",
    "car_unresponsive",
    "nothing_to_collect",
    "other",
]


class DepositRequest(BaseModel):
    """The parcel scanned again as it goes into the trunk: it must be the booked one."""

    model_config = _STRICT

    scanned_parcel_ref: str = Field(min_length=1, max_length=64)


class CollectRequest(BaseModel):
    """The label the driver scanned on the parcel in the open trunk."""

    model_config = _STRICT

    scanned_label: str = Field(min_length=1, max_length=200)


class FailureReport(BaseModel):
    model_config = _STRICT

    reason: DriverReason
    detail: str | None = Field(None, max_length=300)


class AttemptSettlement(BaseModel):
    """An operator's decision on an attempt the car left undecided."""

    model_config = _STRICT

    outcome: Literal["delivered", "not_delivered"]
    note: str = Field(min_length=1, max_length=200)


class DeliveryPage(ListPage[DeliveryRead]):
    """A page of deliveries, the newest booking first."""
