"""One webhook message per endpoint that may and wants to receive an event, queued in the
event's own transaction (so a webhook is sent for an event if and only if it committed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, or_, select
from sqlalchemy.orm import Session

from trunkdrop.store.base import append_rows, new_id
from trunkdrop.webhooks import pending
from trunkdrop.webhooks.models import WebhookEndpoint, WebhookMessage

_LISTENERS = (
    select(WebhookEndpoint.id, WebhookEndpoint.event_types)
    .where(
        WebhookEndpoint.enabled.is_(True),
        or_(
            WebhookEndpoint.owner_id.in_(bindparam("audience", expanding=True)),
            WebhookEndpoint.owner_role == "operator",
        ),
    )
    .order_by(WebhookEndpoint.id)
)

_QUEUED = "trunkdrop.webhooks.queued"


def queue(
    *,
    session: Session,
    event_id: int,
    kind: str,
    audience: Sequence[str],
    ordering_key: str,
    now: datetime,
    listeners: Sequence[tuple[str, list[str]]] | None = None,
) -> int:
    """Queue the event for every enabled endpoint whose owner may see it (an operator's
    sees all) and that subscribed to its kind; the number queued. `listeners`: those
    endpoints (id, kinds) as the caller read them in this transaction (None: read here)."""
    if listeners is None:
        found = session.execute(_LISTENERS, {"audience": list(audience)})
        listeners = [(endpoint_id, types) for endpoint_id, types in found]
    rows: list[dict[str, Any]] = [
        {
            "id": new_id("msg"),
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "ordering_key": ordering_key,
            "status": "pending",
            "tries": 0,
            "created_at": now,
            "retry_from": now,
            "next_try_at": now,
            "ended_at": None,
        }
        for endpoint_id, types in listeners
        if kind in types
    ]
    append_rows(session, WebhookMessage, rows)
    if rows:
        session.info[_QUEUED] = True
    return len(rows)


# The rows go past the ORM (no flush sees them), so the hint is the session's own flag.
@event.listens_for(Session, "after_commit")
def _wake_relay(session: Session) -> None:
    if session.get_nested_transaction() is None and session.info.pop(_QUEUED, False):
        pending.wake()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if session.get_nested_transaction() is None:
        session.info.pop(_QUEUED, None)
