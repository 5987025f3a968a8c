"""A payment adapter that takes every charge and remembers it: the embedded default and
the tests' provider until a real one is wired."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime

from trunkdrop.payments.ports import Payment, PaymentDeclined


class FakePayments:
    def __init__(self, *, decline: bool = False) -> None:
        self.decline = decline
        self.payments: dict[str, Payment] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def charge(self, *, reference: str, amount_cents: int, currency: str, now: datetime) -> Payment:
        if amount_cents <= 0:
            raise ValueError("a charge must be for a positive amount")
        if self.decline:
            raise PaymentDeclined("the card was declined")
        with self._lock:
            payment = Payment(
                id=f"pay_fake_{next(self._ids):06d}",
                reference=reference,
                amount_cents=amount_cents,
                currency=currency,
                status="paid",
                at=now,
            )
            self.payments[payment.id] = payment
        return payment
