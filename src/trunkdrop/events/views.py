"""The event feed: the events a party may read, after a cursor, oldest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from trunkdrop.api.deps import CommitInView, CurrentParty, SessionDep
from trunkdrop.events import service
from trunkdrop.events.schemas import EventPage, EventRead

router = APIRouter(tags=["events"], route_class=CommitInView)


@router.get("/events", response_model=EventPage)
def list_events(
    session: SessionDep,
    party: CurrentParty,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EventPage:
    """Events about the caller's deliveries (an operator: all), recorded after `after`."""
    rows, has_more = service.feed(session=session, party=party, after=after, limit=limit)
    return EventPage(
        data=[EventRead.model_validate(service.event_data(r)) for r in rows],
        next_cursor=rows[-1].id if rows else after,
        has_more=has_more,
    )
