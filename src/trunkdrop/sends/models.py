"""Table of sends: postage a customer bought for a letter or parcel left in the trunk."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class Send(Base):
    __tablename__ = "sends"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # letter | parcel
    postage_class: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # What the payment port answered: its id and when the amount was paid.
    payment_id: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    recipient_name: Mapped[str] = mapped_column(String(100))
    recipient_address: Mapped[str] = mapped_column(String(300))
    tracking_number: Mapped[str] = mapped_column(String(64), unique=True)
    code_payload: Mapped[str] = mapped_column(String(200))
    parcel: Mapped[dict[str, Any]] = mapped_column(JSON)
    delivery_id: Mapped[str | None] = mapped_column(
        ForeignKey("deliveries.id"), default=None, index=True
    )
    created_at: Mapped[datetime]
