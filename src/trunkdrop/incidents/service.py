"""Opening, resolving and listing incidents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from trunkdrop.errors import Conflict, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.incidents.models import Incident
from trunkdrop.parties.models import Party
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


def get_incident(*, session: Session, incident_id: str, for_update: bool = False) -> Incident:
    incident = session.get(Incident, incident_id, with_for_update=True if for_update else None)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id!r}", field="incident_id")
    return incident


def acknowledge(*, session: Session, operator: Party, incident_id: str, now: datetime) -> Incident:
    """An operator says they are on it: the incident stays open, with who and when."""
    incident = get_incident(session=session, incident_id=incident_id, for_update=True)
    if incident.status != "open":
        raise Conflict("only an open incident can be acknowledged", code="incident_resolved")
    if incident.acknowledged_at is None:
        incident.acknowledged_at, incident.acknowledged_by = now, operator.id
        events.record(
            session=session,
            event=Event(
                kind="incident.acknowledged",
                at=now,
                subject=incident.id,
                actor=operator.id,
                delivery_id=incident.delivery_id,
            ),
        )
    session.flush()
    return incident


def resolve(
    *, session: Session, operator: Party, incident_id: str, note: str, now: datetime
) -> Incident:
    """An operator closes an incident with what was done about it."""
    incident = get_incident(session=session, incident_id=incident_id, for_update=True)
    if incident.status != "open":
        raise Conflict("this incident is already resolved", code="incident_resolved")
    incident.status, incident.resolved_at = "resolved", now
    incident.resolution, incident.resolved_by = note[:200], operator.id
    events.record(
        session=session,
        event=Event(
            kind="incident.resolved",
            at=now,
            subject=incident.id,
            actor=operator.id,
            delivery_id=incident.delivery_id,
            facts={"resolution": incident.resolution, "by": "operator"},
        ),
    )
    session.flush()
    return incident


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


def resolve_all_of_attempt(
    *, session: Session, attempt_id: str, resolution: str, now: datetime
) -> None:
    """Resolve every open incident of an attempt (an operator settled it)."""
    for incident in session.scalars(
        select(Incident).where(Incident.attempt_id == attempt_id, Incident.status == "open")
    ):
        incident.status, incident.resolved_at = "resolved", now
        incident.resolution = resolution[:200]
        events.record(
            session=session,
            event=Event(
                kind="incident.resolved",
                at=now,
                subject=incident.id,
                delivery_id=incident.delivery_id,
                facts={"resolution": incident.resolution},
            ),
        )
    session.flush()
