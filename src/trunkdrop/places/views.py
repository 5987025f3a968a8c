"""Customer: save, list and remove places where the car stands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from trunkdrop.api.deps import CommitInView, Customer, NowDep, Retailer, SessionDep, SettingsDep
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.consents import service as consents
from trunkdrop.consents.views import ConsentToken
from trunkdrop.places import service
from trunkdrop.places.schemas import PlaceCreate, PlacePage, PlaceRead, PlaceUpdate
from trunkdrop.store.pages import decode_cursor

router = APIRouter(tags=["places"], route_class=CommitInView)


@router.post("/places", response_model=PlaceRead, status_code=status.HTTP_201_CREATED)
def create_place(
    place_in: PlaceCreate,
    session: SessionDep,
    settings: SettingsDep,
    owner: Customer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> PlaceRead:
    """Save a place where the car stands (the office car park, home)."""
    return keyed.once(
        session=session,
        party=owner,
        settings=settings,
        now=now,
        read=PlaceRead,
        create=lambda: PlaceRead.model_validate(
            service.create_place(session=session, owner=owner, place_in=place_in, now=now)
        ),
    )


@router.get("/places", response_model=PlacePage)
def list_places(session: SessionDep, owner: Customer, page: PageParams) -> PlacePage:
    """The caller's saved places, oldest first."""
    found = service.page_places(
        session=session, owner_id=owner.id, cursor=page.cursor, limit=page.limit
    )
    return page_read(PlacePage, found, PlaceRead.model_validate)


@router.get("/customers/{customer_id}/places", response_model=PlacePage)
def list_customers_places(
    customer_id: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    retailer: Retailer,
    consent: ConsentToken,
    page: PageParams,
) -> PlacePage:
    """A customer's saved places, for a shop with the customer's consent (`places:read`)."""
    if page.cursor is not None:
        decode_cursor(page.cursor, 2)  # a bad cursor is named before anything is looked up
    consents.require(
        session=session,
        retailer_id=retailer.id,
        customer_id=customer_id,
        token=consent,
        scope="places:read",
    )
    found = service.page_places(
        session=session, owner_id=customer_id, cursor=page.cursor, limit=page.limit
    )
    return page_read(PlacePage, found, PlaceRead.model_validate)


@router.patch("/places/{place_id}", response_model=PlaceRead)
def update_place(
    place_id: Annotated[str, Path(max_length=32)],
    place_in: PlaceUpdate,
    session: SessionDep,
    owner: Customer,
) -> PlaceRead:
    """Edit a saved place (label, position, address, parking notes); bookings already made
    keep their copy."""
    place = service.get_place(session=session, place_id=place_id, owner_id=owner.id)
    return PlaceRead.model_validate(
        service.update_place(session=session, place=place, place_in=place_in)
    )


@router.delete("/places/{place_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_place(
    place_id: Annotated[str, Path(max_length=32)], session: SessionDep, owner: Customer, now: NowDep
) -> None:
    """Remove a saved place; bookings already made keep their copy."""
    service.delete_place(
        session=session,
        place=service.get_place(session=session, place_id=place_id, owner_id=owner.id),
        now=now,
    )
