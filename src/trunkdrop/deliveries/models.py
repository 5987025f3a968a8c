"""Tables: deliveries, their itinerary options, attempts and the customer-facing timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    retailer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    carrier_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    # None for a delivery to the door that involves no car.
    vehicle_id: Mapped[str | None] = mapped_column(ForeignKey("vehicles.id"), index=True)
    service_date: Mapped[date] = mapped_column(index=True)
    retailer_reference: Mapped[str] = mapped_column(String(64))
    parcel_ref: Mapped[str] = mapped_column(String(64), unique=True)
    parcel: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(24), index=True)
    mode: Mapped[str] = mapped_column(String(8), default="trunk")  # trunk | home
    current_option: Mapped[int | None] = mapped_column(default=1)
    fallback_address: Mapped[str | None] = mapped_column(String(300), default=None)
    fallback_latitude: Mapped[float | None] = mapped_column(default=None)
    fallback_longitude: Mapped[float | None] = mapped_column(default=None)
    # When somebody is at the address to take the parcel (attended delivery); None: all day.
    door_window_start: Mapped[datetime | None] = mapped_column(default=None)
    door_window_end: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    # delivery | return | send: a return or a send is a pickup, its parcel comes out of the
    # trunk; `parcel_ref` is then its label's tracking number, `label_code` its 2-D code.
    purpose: Mapped[str] = mapped_column(String(8), default="delivery")
    label_code: Mapped[str | None] = mapped_column(String(200), default=None)
    # When the customer said the pickup's parcel is in the trunk.
    parcel_ready_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class DeliveryOption(Base):
    """One stop of the car's itinerary: a place and the window the car stands there."""

    __tablename__ = "delivery_options"
    __table_args__ = (UniqueConstraint("delivery_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    seq: Mapped[int]
    place_id: Mapped[str] = mapped_column(ForeignKey("places.id"))
    label: Mapped[str] = mapped_column(String(64))
    latitude: Mapped[float]
    longitude: Mapped[float]
    address: Mapped[str] = mapped_column(String(300))
    parking_notes: Mapped[str] = mapped_column(String(500), default="")
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    stop_id: Mapped[str] = mapped_column(ForeignKey("route_stops.id"), unique=True)
    driver_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    vehicle_id: Mapped[str | None] = mapped_column(ForeignKey("vehicles.id"), index=True)
    mode: Mapped[str] = mapped_column(String(8))
    option_seq: Mapped[int | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime]
    driver_latitude: Mapped[float]
    driver_longitude: Mapped[float]
    scanned_parcel_ref: Mapped[str] = mapped_column(String(64))
    grant_id: Mapped[str | None] = mapped_column(String(32), default=None)
    unlock_command_id: Mapped[str | None] = mapped_column(String(32), default=None)
    access_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    trunk_opened_at: Mapped[datetime | None] = mapped_column(default=None)
    deposited_at: Mapped[datetime | None] = mapped_column(default=None)
    secured_at: Mapped[datetime | None] = mapped_column(default=None)
    relock_tries: Mapped[int] = mapped_column(default=0)
    last_relock_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    failure_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    failure_detail: Mapped[str | None] = mapped_column(String(300), default=None)


class TimelineEntry(Base):
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(48))
    text: Mapped[str] = mapped_column(String(300))
