"""Customer: buy postage for a letter or parcel, get its label, book its pickup from the
trunk and say it is there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from trunkdrop.api.deps import (
    CommitInView,
    CurrentParty,
    Customer,
    NowDep,
    PlatformDep,
    SessionDep,
    SettingsDep,
)
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.returns.schemas import DoorPickupCreate, PickupCreate
from trunkdrop.sends import service
from trunkdrop.sends.schemas import SendCreate, SendPage, SendRead

router = APIRouter(tags=["sends"], route_class=CommitInView)
Id = Annotated[str, Path(max_length=32)]


@router.post("/sends", response_model=SendRead, status_code=status.HTTP_201_CREATED)
def buy_postage(
    send_in: SendCreate,
    session: SessionDep,
    settings: SettingsDep,
    platform: PlatformDep,
    customer: Customer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> SendRead:
    """Buy postage for a letter or parcel from the carrier's price list: paid through the
    payment port; the answer links the label (PNG, PDF) with its tracking number."""
    return keyed.once(
        session=session,
        party=customer,
        settings=settings,
        now=now,
        read=SendRead,
        create=lambda: service.to_read(
            session=session,
            send=service.buy(
                session=session,
                settings=settings,
                payments=platform.payments,
                customer=customer,
                send_in=send_in,
                now=now,
            ),
        ),
    )


@router.get("/sends", response_model=SendPage)
def list_sends(session: SessionDep, party: CurrentParty, page: PageParams) -> SendPage:
    """The caller's sends, the newest first."""
    found = service.list_sends(session=session, party=party, cursor=page.cursor, limit=page.limit)
    return page_read(SendPage, found, lambda s: service.to_read(session=session, send=s))


@router.get("/sends/{send_id}", response_model=SendRead)
def get_send(send_id: Id, session: SessionDep, party: CurrentParty) -> SendRead:
    """One send with its postage, label and the state of its pickup."""
    return service.to_read(
        session=session, send=service.get_send(session=session, party=party, send_id=send_id)
    )


@router.get(
    "/sends/{send_id}/label.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def get_send_label_png(send_id: Id, session: SessionDep, party: CurrentParty) -> Response:
    """The label to print and stick on, as PNG: 2-D code, tracking number, recipient."""
    send = service.get_send(session=session, party=party, send_id=send_id)
    return Response(content=service.label(send=send, fmt="png"), media_type="image/png")


@router.get(
    "/sends/{send_id}/label.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def get_send_label_pdf(send_id: Id, session: SessionDep, party: CurrentParty) -> Response:
    """The same label as PDF."""
    send = service.get_send(session=session, party=party, send_id=send_id)
    return Response(content=service.label(send=send, fmt="pdf"), media_type="application/pdf")


@router.post(
    "/sends/{send_id}/pickup", response_model=SendRead, status_code=status.HTTP_201_CREATED
)
def book_send_pickup(
    send_id: Id,
    pickup_in: PickupCreate,
    session: SessionDep,
    settings: SettingsDep,
    customer: Customer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> SendRead:
    """Book the pickup from the trunk: the car, and where it stands when (as at checkout)."""
    return keyed.once(
        session=session,
        party=customer,
        settings=settings,
        now=now,
        read=SendRead,
        create=lambda: service.to_read(
            session=session,
            send=service.book_pickup(
                session=session,
                settings=settings,
                customer=customer,
                send_id=send_id,
                pickup_in=pickup_in,
                now=now,
            ),
        ),
    )


@router.post(
    "/sends/{send_id}/door-pickup", response_model=SendRead, status_code=status.HTTP_201_CREATED
)
def book_send_door_pickup(
    send_id: Id,
    pickup_in: DoorPickupCreate,
    session: SessionDep,
    settings: SettingsDep,
    customer: Customer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> SendRead:
    """Book the pickup at the door, for a customer without an eligible car: the address,
    the day, and when somebody is in."""
    return keyed.once(
        session=session,
        party=customer,
        settings=settings,
        now=now,
        read=SendRead,
        create=lambda: service.to_read(
            session=session,
            send=service.book_pickup(
                session=session,
                settings=settings,
                customer=customer,
                send_id=send_id,
                pickup_in=pickup_in,
                now=now,
            ),
        ),
    )


@router.post("/sends/{send_id}/ready", response_model=SendRead)
def confirm_send_ready(
    send_id: Id, session: SessionDep, customer: Customer, now: NowDep
) -> SendRead:
    """The customer put the labelled letter or parcel in the trunk: the driver may open it."""
    return service.to_read(
        session=session,
        send=service.confirm_ready(session=session, customer=customer, send_id=send_id, now=now),
    )
