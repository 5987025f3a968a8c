"""Operator: incidents."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from trunkdrop.api.deps import CommitInView, Operator, SessionDep
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.incidents import service
from trunkdrop.incidents.schemas import IncidentPage, IncidentRead

router = APIRouter(tags=["incidents"], route_class=CommitInView)


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
