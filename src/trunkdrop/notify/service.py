"""Writing messages to the outbox in the same transaction as the change they announce."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.notify.models import OutboxMessage
from trunkdrop.store.base import append_rows


def emit(
    *,
    session: Session,
    topic: str,
    recipient_ids: Sequence[str | None],
    now: datetime,
    payload: dict[str, Any],
    delivery_id: str | None = None,
) -> None:
    rows = [
        {
            "topic": topic,
            "recipient_id": recipient,
            "delivery_id": delivery_id,
            "payload": payload,
            "created_at": now,
            "sent_at": None,
        }
        for recipient in dict.fromkeys(r for r in recipient_ids if r)
    ]
    append_rows(session, OutboxMessage, rows)


def messages_for(*, session: Session, recipient_id: str, limit: int = 200) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient_id == recipient_id)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )
