"""Tables: checkout sessions (the hash of their token only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class CheckoutSession(Base):
    """One parcel's checkout for one customer at one shop: what the widget may ask, for
    minutes, until the shop books the parcel."""

    __tablename__ = "checkout_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # SHA-256 of the token the widget holds: the token is the widget's only credential.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    retailer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    parcel_reference: Mapped[str] = mapped_column(String(64))
    # The checkout request as the shop sent it (date and parcel): the widget cannot change it.
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
