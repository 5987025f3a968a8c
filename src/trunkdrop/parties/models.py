"""Tables for parties and their hashed API keys."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class Role(enum.StrEnum):
    customer = "customer"
    retailer = "retailer"
    carrier = "carrier"
    driver = "driver"
    carmaker = "carmaker"
    operator = "operator"


class Party(Base):
    __tablename__ = "parties"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # A driver works for one carrier; a car maker speaks for one vehicle brand adapter.
    carrier_id: Mapped[str | None] = mapped_column(ForeignKey("parties.id"), default=None)
    brand: Mapped[str | None] = mapped_column(String(64), default=None)
    # How messages reach a person: in their language ("en", "de"), their time zone (None:
    # the platform's), to their e-mail address (None: push through the outbox only).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    # SHA-256 of the key: keys are 256-bit random, so a fast hash is enough and
    # lets a request find its key by index without trying every row.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    label: Mapped[str | None] = mapped_column(String(64), default=None)
    # The handset the key was issued for (a driver's phone): revoking the handset revokes it.
    device_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
