"""Recording an event: its timeline entry, audit entry and messages, in one place and in the
transaction of the change it records."""

from __future__ import annotations

from sqlalchemy.orm import Session

from trunkdrop.access import audit
from trunkdrop.deliveries.models import TimelineEntry
from trunkdrop.events.domain import Event, recording_of
from trunkdrop.notify import service as notify
from trunkdrop.store.base import append_rows


def record(*, session: Session, event: Event) -> None:
    """Write what the event's kind is recorded as. The change it records is in the same
    transaction: both commit or neither does. What wakes readers after the commit (event
    streams, the command dispatcher) follows from the rows themselves (`store.hints`)."""
    recording = recording_of(event)
    facts = dict(event.facts)
    if recording.timeline is not None:
        # `recording_of` refused a timeline event without them.
        assert event.delivery_id is not None
        assert event.text is not None
        append_rows(
            session,
            TimelineEntry,
            [
                {
                    "delivery_id": event.delivery_id,
                    "at": event.at,
                    "kind": recording.timeline,
                    "text": event.text[:300],
                }
            ],
        )
    if recording.audit is not None:
        audit.append(
            session=session,
            actor=event.actor,
            action=recording.audit,
            subject=event.subject,
            now=event.at,
            data=facts,
        )
    if recording.topic is not None:
        payload = {"delivery_id": event.delivery_id, **facts} if event.delivery_id else facts
        if event.text is not None:
            payload["message"] = event.text
        notify.emit(
            session=session,
            topic=recording.topic,
            recipient_ids=event.parties,
            delivery_id=event.delivery_id,
            now=event.at,
            payload=payload,
        )
