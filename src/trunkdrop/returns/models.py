"""Table of return authorisations: a shop's yes to a return, with the label it carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class ReturnAuthorisation(Base):
    __tablename__ = "return_authorisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    retailer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    order_ref: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300))
    # The label: the tracking number printed on it and the payload of its 2-D code.
    tracking_number: Mapped[str] = mapped_column(String(64), unique=True)
    code_payload: Mapped[str] = mapped_column(String(200))
    # Size and weight as the shop knows the item: what the trunk and the van must hold.
    parcel: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The pickup, once the customer booked it.
    delivery_id: Mapped[str | None] = mapped_column(
        ForeignKey("deliveries.id"), default=None, index=True
    )
    created_at: Mapped[datetime]
