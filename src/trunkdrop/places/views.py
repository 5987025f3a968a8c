"""Customer: save, list and remove places where the car stands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from trunkdrop.api.deps import CommitInView, Customer, NowDep, SessionDep
from trunkdrop.places import service
from trunkdrop.places.schemas import PlaceCreate, PlaceRead

router = APIRouter(tags=["places"], route_class=CommitInView)


@router.post("/places", response_model=PlaceRead, status_code=status.HTTP_201_CREATED)
def create_place(
    place_in: PlaceCreate, session: SessionDep, owner: Customer, now: NowDep
) -> PlaceRead:
    return PlaceRead.model_validate(
        service.create_place(session=session, owner=owner, place_in=place_in, now=now)
    )


@router.get("/places", response_model=list[PlaceRead])
def list_places(session: SessionDep, owner: Customer) -> list[PlaceRead]:
    return [
        PlaceRead.model_validate(p) for p in service.list_places(session=session, owner_id=owner.id)
    ]


@router.delete("/places/{place_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_place(
    place_id: Annotated[str, Path(max_length=32)], session: SessionDep, owner: Customer, now: NowDep
) -> None:
    service.delete_place(
        session=session,
        place=service.get_place(session=session, place_id=place_id, owner_id=owner.id),
        now=now,
    )
