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
    Incident.attempt_id == bindparam("attempt_id"), Incident.status == "open"
)
_OPEN_OF_ATTEMPT_AND_KIND = _OPEN_OF_ATTEMPT.where(Incident.kind == bindparam("kind"))


def resolve_open(
    *,
    session: Session,
    attempt_id: str,
    resolution: str,
    now: datetime,
    kind: str | None = None,
    operator: Party | None = None,
) -> None:
    """Resolve the attempt's open incidents (only those of `kind`, when given), by the
    platform or by an operator."""
    if kind is None:
        found = session.scalars(_OPEN_OF_ATTEMPT, {"attempt_id": attempt_id})
    else:
        found = session.scalars(_OPEN_OF_ATTEMPT_AND_KIND, {"attempt_id": attempt_id, "kind": kind})
    for incident in found:
        _close(session, incident, resolution=resolution, now=now, operator=operator)
    session.flush()


def _close(
    session: Session,
    incident: Incident,
    *,
    resolution: str,
    now: datetime,
    operator: Party | None = None,
) -> None:
    incident.status, incident.resolved_at = "resolved", now
    incident.resolution = resolution[:200]
    facts: dict[str, str] = {"resolution": incident.resolution}
    if operator is not None:
        incident.resolved_by, facts["by"] = operator.id, "operator"
    events.record(
        session=session,
        event=Event(
            kind="incident.resolved",
            at=now,
            subject=incident.id,
            actor=operator.id if operator is not None else "platform",
            delivery_id=incident.delivery_id,
            facts=facts,
        ),
    )


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
    _close(session, incident, resolution=note, now=now, operator=operator)
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
