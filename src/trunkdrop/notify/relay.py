"""Sending the outbox: each pending message rendered for its reader (their language and
zone) and sent through the configured channels; the rendered text stays on the row, which
is what the app's push reads. No channel configured: the outbox only."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.notify import messages
from trunkdrop.notify.models import OutboxMessage
from trunkdrop.notify.ports import ChannelError, MessageChannel, Recipient
from trunkdrop.parties.models import Party

log = logging.getLogger(__name__)


def send_pending(
    *,
    session: Session,
    channels: Sequence[MessageChannel],
    default_zone: str,
    now: datetime,
    retry_for: timedelta = timedelta(days=1),
    batch: int = 200,
) -> int:
    """Send up to `batch` pending messages, oldest first; returns how many were settled. A
    message a channel could not send now stays pending for the next pass, until it is older
    than `retry_for`: then it is settled as undelivered, so a dead mail server cannot keep a
    growing backlog in every pass for ever."""
    rows = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    if not rows:
        return 0
    readers = {
        p.id: p
        for p in session.scalars(select(Party).where(Party.id.in_({r.recipient_id for r in rows})))
    }
    settled = 0
    for row in rows:
        reader = readers.get(row.recipient_id)
        if reader is None:
            row.sent_at = now
            continue
        message = messages.render(
            topic=row.topic,
            facts=row.payload,
            at=row.created_at,
            language=reader.language,
            zone=messages.zone_of(reader.timezone, default_zone),
        )
        if message is not None:
            recipient = Recipient(reader.id, reader.email)
            undelivered: str | None = None
            try:
                for channel in channels:
                    if channel.reaches(recipient):
                        channel.send(recipient, message)
            except ChannelError as e:
                if now - row.created_at < retry_for:
                    log.warning("message %s to %s not sent yet: %s", row.id, reader.id, e)
                    continue
                log.error("message %s to %s given up after %s: %s", row.id, reader.id, retry_for, e)
                undelivered = str(e)[:200]
            row.payload = {
                **row.payload,
                **({"undelivered": undelivered} if undelivered is not None else {}),
                "rendered": {
                    "language": message.language,
                    "subject": message.subject,
                    "body": message.body,
                },
            }
        row.sent_at = now
        settled += 1
    return settled
