"""Opening, resolving and listing incidents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.incidents.models import Incident
from trunkdrop.store.base import new_id
from trunkdrop.store.pages import Order, Page, page_of


def open_incident(
    *,
    session: Session,
    kind: str,
    severity: str,
    detail: str,
    now: datetime,
    vehicle_id: str | None = None,
    delivery_id: str | None = None,
    attempt_id: str | None = None,
) -> Incident:
    """Open an incident, or return the open one of the same kind for the same attempt."""
    if attempt_id is not None:
        existing = session.scalars(
            select(Incident).where(
                Incident.kind == kind, Incident.attempt_id == attempt_id, Incident.status == "open"
            )
        ).first()
        if existing is not None:
            return existing
    incident = Incident(
        id=new_id("inc"),
        kind=kind,
        severity=severity,
        status="open",
        detail=detail[:500],
        vehicle_id=vehicle_id,
        delivery_id=delivery_id,
        attempt_id=attempt_id,
        opened_at=now,
    )
    session.add(incident)
    session.flush()
    events.record(
        session=session,
        event=Event(
            kind="incident.opened",
            at=now,
            subject=incident.id,
            delivery_id=delivery_id,
            facts={"kind": kind, "vehicle": vehicle_id, "attempt": attempt_id, "detail": detail},
        ),
    )
    return incident


# Every delivery that ends asks this (a trunk reported locked resolves its incident).
_OPEN_OF_ATTEMPT = select(Incident).where(
    Incident.attempt_id == bindparam("attempt_id"),
    Incident.kind == bindparam("kind"),
    Incident.status == "open",
)


def resolve_open(
    *, session: Session, attempt_id: str, kind: str, resolution: str, now: datetime
) -> None:
    for incident in session.scalars(_OPEN_OF_ATTEMPT, {"attempt_id": attempt_id, "kind": kind}):
        incident.status, incident.resolved_at, incident.resolution = "resolved", now, resolution
        events.record(
            session=session,
            event=Event(
                kind="incident.resolved",
                at=now,
                subject=incident.id,
                delivery_id=incident.delivery_id,
                facts={"resolution": resolution},
            ),
        )
    session.flush()


def list_incidents(
    *, session: Session, status: str | None = None, cursor: str | None = None, limit: int = 100
) -> Page[Incident]:
    """Incidents, the newest first, one page."""
    query = select(Incident)
    if status is not None:
        query = query.where(Incident.status == status)
    return page_of(
        session,
        query,
        order=(Order(Incident.opened_at, descending=True), Order(Incident.id)),
        key=lambda i: (i.opened_at, i.id),
        cursor=cursor,
        limit=limit,
    )
