"""Writing messages to the outbox in the same transaction as the change they announce."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
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


def forget_messages(*, session: Session, recipient_id: str, delivery_ids: Sequence[str]) -> int:
    """Erasure (GDPR art. 17): the messages to a party go, sent or not; those to others
    about the party's deliveries keep their topic and facts but lose their words (they name
    the party's car and places)."""
    gone = session.execute(delete(OutboxMessage).where(OutboxMessage.recipient_id == recipient_id))
    for message in session.scalars(
        select(OutboxMessage).where(OutboxMessage.delivery_id.in_(delivery_ids))
    ):
        if "message" in message.payload:
            message.payload = {**message.payload, "message": "[erased]"}
    session.flush()
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
