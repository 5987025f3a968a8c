"""Tables: linked vehicles, the events their makers reported, the commands sent to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class Vehicle(Base):
    __tablename__ = "vehicles"
    __table_args__ = (UniqueConstraint("brand", "external_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    brand: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    make: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    year: Mapped[int]
    plate: Mapped[str] = mapped_column(String(16))
    colour: Mapped[str] = mapped_column(String(32))
    trunk_volume_l: Mapped[int]
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    consent_scopes: Mapped[list[str]] = mapped_column(JSON)
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    # The car maker's consent ends then unless renewed (None: until withdrawn). The sweep
    # notes when it ended access (`consent_expired_at`) and when it warned the owner.
    consent_expires_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    consent_expired_at: Mapped[datetime | None] = mapped_column(default=None)
    consent_warned_at: Mapped[datetime | None] = mapped_column(default=None)
    access_blocked: Mapped[bool] = mapped_column(default=False)
    unlinked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Last reported state. Positions are personal data: cleared when no delivery needs them.
    latitude: Mapped[float | None] = mapped_column(default=None)
    longitude: Mapped[float | None] = mapped_column(default=None)
    position_at: Mapped[datetime | None] = mapped_column(default=None)
    online: Mapped[bool] = mapped_column(default=True)
    lock_state: Mapped[str] = mapped_column(String(16), default="unknown")
    lock_state_at: Mapped[datetime | None] = mapped_column(default=None)
    trunk_state: Mapped[str] = mapped_column(String(16), default="unknown")
    trunk_state_at: Mapped[datetime | None] = mapped_column(default=None)
    # A car that checks grants itself: which set of the platform's public keys it holds
    # (digest of their ids). After a key rotation the workers provision the new set.
    grant_keys_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]


class VehicleEvent(Base):
    __tablename__ = "vehicle_events"
    # Idempotency: a car maker may send the same event twice.
    __table_args__ = (UniqueConstraint("brand", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    brand: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(128))
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class VehicleCommand(Base):
    __tablename__ = "vehicle_commands"
    __table_args__ = (Index("ix_vehicle_commands_open", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    attempt_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    grant_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # pending -> sending (claimed, committed before the send) -> sent -> executed | expired |
    # rejected | dropped; sent_at is when it was last claimed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    tries: Mapped[int] = mapped_column(default=0)
    detail: Mapped[str | None] = mapped_column(String(200), default=None)


class VehicleConsentRequest(Base):
    """The platform asked an owner to approve it at the car maker (OAuth 2 with PKCE): what
    the callback needs to finish linking the car or renewing its consent. Deleted when
    answered, when it runs out (the sweep) and when its owner is erased."""

    __tablename__ = "vehicle_consent_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    brand: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    # Renewal: the linked car; a new link: what the owner entered (`VehicleLink`).
    vehicle_id: Mapped[str | None] = mapped_column(ForeignKey("vehicles.id"), default=None)
    link: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # SHA-256 of the state the car maker sends back: the request is found by it only.
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_verifier: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
