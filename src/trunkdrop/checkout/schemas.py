"""Pydantic schemas for checkout sessions and what the widget reads with one."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from trunkdrop.deliveries.schemas import CheckoutOption, RuleRead


class CheckoutSessionIssued(BaseModel):
    """Shown once: the token is stored only as a digest. The shop's page hands it to the
    widget (`<trunkdrop-checkout session="…">`)."""

    id: str
    token: str
    customer_id: str
    parcel_reference: str
    expires_at: datetime


class CheckoutSessionOptionsRead(BaseModel):
    """The windows and places the widget may offer for the session's parcel, or why none."""

    session_id: str
    parcel_reference: str
    expires_at: datetime
    # The platform's local time zone: windows are shown in it, whatever the browser's.
    timezone: str
    trunk_possible: bool
    options: list[CheckoutOption]
    reasons: list[RuleRead]
