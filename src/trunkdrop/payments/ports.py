"""The payment port: take an amount for a purchase and say whether it was paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Payment:
    id: str
    reference: str  # what was bought (a send's id)
    amount_cents: int
    currency: str
    status: str  # paid | declined
    at: datetime

    @property
    def paid(self) -> bool:
        return self.status == "paid"


class PaymentDeclined(Exception):
    """The provider refused the charge; the adapter says why in plain words."""


class PaymentPort(Protocol):
    def charge(self, *, reference: str, amount_cents: int, currency: str, now: datetime) -> Payment:
        """Charge the customer for `reference`; a refusal raises `PaymentDeclined`."""
        ...
