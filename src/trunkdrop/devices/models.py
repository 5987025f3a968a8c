"""Tables: driver devices (their public keys) and the single-use challenge nonces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class Device(Base):
    """A driver's handset. Only its public key is known; the private key never leaves it."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    driver_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    # Raw Ed25519 public key, base64url without padding (43 characters).
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    # A handset registered with the driver's API key signs only once the driver's carrier
    # (or an operator) has approved it: whoever holds the key alone cannot enrol a phone.
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    approved_by: Mapped[str | None] = mapped_column(String(32), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(32), default=None)


class DeviceNonce(Base):
    """A server challenge: fresh, short-lived, for one device, one attempt, one action, once."""

    __tablename__ = "device_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    attempt_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class DriverFix(Base):
    """Where a driver's handset last said it was, and when: the track a new position must
    follow plausibly. One row per driver, overwritten (no history of the driver's day)."""

    __tablename__ = "driver_fixes"

    driver_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), primary_key=True)
    latitude: Mapped[float]
    longitude: Mapped[float]
    at: Mapped[datetime]
