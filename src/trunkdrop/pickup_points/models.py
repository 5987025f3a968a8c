"""Tables: a carrier's pickup points and the parcels each holds for its customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class PickupPoint(Base):
    __tablename__ = "pickup_points"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    carrier_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))  # point (a shop's counter) | locker
    address: Mapped[str] = mapped_column(String(300))
    latitude: Mapped[float]
    longitude: Mapped[float]
    # {"mon": [{"opens": "08:00", "closes": "20:00"}], …}; a weekday left out is closed.
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON)
    capacity: Mapped[int]
    # Parcels held now; changed only with the point's row locked, never past `capacity`.
    stock: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class HeldParcel(Base):
    """A delivery's parcel at a pickup point, with the hash of the customer's code."""

    __tablename__ = "pickup_point_parcels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    point_id: Mapped[str] = mapped_column(ForeignKey("pickup_points.id"), index=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    code_salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(128))
    wrong_tries: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(12), index=True)  # held | collected | returned
    arrived_at: Mapped[datetime]
    collect_by: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
