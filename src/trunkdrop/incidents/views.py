"""Operator: incidents."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from trunkdrop.api.deps import CommitInView, NowDep, Operator, SessionDep
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.incidents import service
from trunkdrop.incidents.schemas import IncidentNote, IncidentPage, IncidentRead

router = APIRouter(tags=["incidents"], route_class=CommitInView)
Id = Annotated[str, Path(max_length=32)]


@router.get("/incidents", response_model=IncidentPage)
def list_incidents(
    session: SessionDep,
    _: Operator,
    page: PageParams,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = None,
) -> IncidentPage:
    """Incidents (a trunk left open, a car not found), the newest first."""
    found = service.list_incidents(
        session=session, status=status, cursor=page.cursor, limit=page.limit
    )
    return page_read(IncidentPage, found, IncidentRead.model_validate)


@router.get("/incidents/{incident_id}", response_model=IncidentRead)
def get_incident(incident_id: Id, session: SessionDep, _: Operator) -> IncidentRead:
    return IncidentRead.model_validate(
        service.get_incident(session=session, incident_id=incident_id)
    )


@router.post("/incidents/{incident_id}/acknowledge", response_model=IncidentRead)
def acknowledge(
    incident_id: Id, session: SessionDep, operator: Operator, now: NowDep
) -> IncidentRead:
    """Say an operator is on it; the incident stays open (audited)."""
    incident = service.acknowledge(
        session=session, operator=operator, incident_id=incident_id, now=now
    )
    return IncidentRead.model_validate(incident)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentRead)
def resolve(
    incident_id: Id, body: IncidentNote, session: SessionDep, operator: Operator, now: NowDep
) -> IncidentRead:
    """Close the incident with what was done about it (audited)."""
    incident = service.resolve(
        session=session, operator=operator, incident_id=incident_id, note=body.note, now=now
    )
    return IncidentRead.model_validate(incident)
