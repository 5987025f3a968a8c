"""Operator: incidents."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from trunkdrop.api.deps import CommitInView, Operator, SessionDep
from trunkdrop.incidents import service
from trunkdrop.incidents.schemas import IncidentRead

router = APIRouter(tags=["incidents"], route_class=CommitInView)


@router.get("/incidents", response_model=list[IncidentRead])
def list_incidents(
    session: SessionDep,
    _: Operator,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = None,
) -> list[IncidentRead]:
    return [
        IncidentRead.model_validate(i)
        for i in service.list_incidents(session=session, status=status)
    ]
