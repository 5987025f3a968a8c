"""Pydantic schemas for buying postage and reading a send."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.returns.schemas import ItemIn
from trunkdrop.schemas import ListPage

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RecipientIn(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=1, max_length=300)


class SendCreate(BaseModel):
    model_config = _STRICT

    kind: Literal["letter", "parcel"]
    parcel: ItemIn
    recipient: RecipientIn


class SendRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    customer_id: str
    kind: str
    postage_class: str
    amount_cents: int
    currency: str
    paid: bool
    payment_id: str
    tracking_number: str
    code_payload: str
    recipient_name: str
    recipient_address: str
    label_png: str = Field(description="where to get the label as PNG")
    label_pdf: str = Field(description="where to get the label as PDF")
    delivery_id: str | None
    # bought (no pickup yet), then the pickup's status: booked, out_for_delivery,
    # collected, not_collected, cancelled.
    status: str
    parcel_ready_at: datetime | None
    created_at: datetime


class SendPage(ListPage[SendRead]):
    """A page of the customer's sends, the newest first."""
