"""The answers given to creates that came with an `Idempotency-Key`, per party, for a day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class IdempotentRequest(Base):
    __tablename__ = "idempotency_keys"

    party_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of the method, the path and the body (canonical JSON): the same key with
    # another request is refused, never answered with the first one's result.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The first answer, sealed (it may hold a webhook secret or a customer's address);
    # None while the request that claimed the key is still running.
    response: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(index=True)
