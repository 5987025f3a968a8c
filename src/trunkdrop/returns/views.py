"""Shop: authorise a return. Customer: book its pickup from the trunk, say it is there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from trunkdrop.api.deps import (
    CommitInView,
    CurrentParty,
    Customer,
    NowDep,
    Retailer,
    SessionDep,
    SettingsDep,
)
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.returns import service
from trunkdrop.returns.schemas import (
    DoorPickupCreate,
    PickupCreate,
    ReturnCreate,
    ReturnPage,
    ReturnRead,
)

router = APIRouter(tags=["returns"], route_class=CommitInView)
Id = Annotated[str, Path(max_length=32)]


@router.post("/returns", response_model=ReturnRead, status_code=status.HTTP_201_CREATED)
def authorise_return(
    return_in: ReturnCreate,
    session: SessionDep,
    settings: SettingsDep,
    retailer: Retailer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> ReturnRead:
    """Authorise a return for an order: the answer carries the return label (tracking
    number and the payload of its 2-D code)."""
    return keyed.once(
        session=session,
        party=retailer,
        settings=settings,
        now=now,
        read=ReturnRead,
        create=lambda: service.to_read(
            session=session,
            authorisation=service.authorise(
                session=session, retailer=retailer, return_in=return_in, now=now
            ),
        ),
    )


@router.get("/returns", response_model=ReturnPage)
def list_returns(session: SessionDep, party: CurrentParty, page: PageParams) -> ReturnPage:
    """The returns of the caller's shop, or the customer's own; the newest first."""
    found = service.list_returns(session=session, party=party, cursor=page.cursor, limit=page.limit)
    return page_read(ReturnPage, found, lambda r: service.to_read(session=session, authorisation=r))


@router.get("/returns/{return_id}", response_model=ReturnRead)
def get_return(return_id: Id, session: SessionDep, party: CurrentParty) -> ReturnRead:
    """One return with its label and the state of its pickup."""
    return service.to_read(
        session=session,
        authorisation=service.get_return(session=session, party=party, return_id=return_id),
    )


@router.post(
    "/returns/{return_id}/pickup", response_model=ReturnRead, status_code=status.HTTP_201_CREATED
)
def book_return_pickup(
    return_id: Id,
    pickup_in: PickupCreate,
    session: SessionDep,
    settings: SettingsDep,
    customer: Customer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> ReturnRead:
    """Book the pickup from the trunk: the car, and where it stands when (as at checkout)."""
    return keyed.once(
        session=session,
        party=customer,
        settings=settings,
        now=now,
        read=ReturnRead,
        create=lambda: service.to_read(
            session=session,
            authorisation=service.book_pickup(
                session=session,
                settings=settings,
                customer=customer,
                return_id=return_id,
                pickup_in=pickup_in,
                now=now,
            ),
        ),
    )


@router.post(
    "/returns/{return_id}/door-pickup",
    response_model=ReturnRead,
    status_code=status.HTTP_201_CREATED,
)
def book_return_door_pickup(
    return_id: Id,
    pickup_in: DoorPickupCreate,
    session: SessionDep,
    settings: SettingsDep,
    customer: Customer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> ReturnRead:
    """Book the pickup at the door, for a customer without an eligible car: the address,
    the day, and when somebody is in."""
    return keyed.once(
        session=session,
        party=customer,
        settings=settings,
        now=now,
        read=ReturnRead,
        create=lambda: service.to_read(
            session=session,
            authorisation=service.book_pickup(
                session=session,
                settings=settings,
                customer=customer,
                return_id=return_id,
                pickup_in=pickup_in,
                now=now,
            ),
        ),
    )


@router.post("/returns/{return_id}/ready", response_model=ReturnRead)
def confirm_return_ready(
    return_id: Id, session: SessionDep, customer: Customer, now: NowDep
) -> ReturnRead:
    """The customer put the labelled parcel in the trunk: the driver may open it."""
    return service.to_read(
        session=session,
        authorisation=service.confirm_ready(
            session=session, customer=customer, return_id=return_id, now=now
        ),
    )
