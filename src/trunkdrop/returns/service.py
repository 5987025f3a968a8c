"""Return authorisations: a shop's yes with its label, the customer's pickup booking from
the trunk, and the customer's word that the parcel is in the trunk."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, lookups
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.schemas import DeliveryCreate, ParcelIn
from trunkdrop.errors import Conflict, Forbidden, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party, Role
from trunkdrop.returns.models import ReturnAuthorisation
from trunkdrop.returns.schemas import DoorPickupCreate, PickupCreate, ReturnCreate, ReturnRead
from trunkdrop.store.base import new_id
from trunkdrop.store.pages import Order, Page, page_of


def new_tracking_number(prefix: str) -> str:
    """A label's tracking number: a prefix naming what it is and 12 random digits."""
    return f"{prefix}{secrets.randbelow(10**12):012d}"


def code_payload(kind: str, tracking_number: str, owner_id: str) -> str:
    """What the label's 2-D code carries: readable by any scanner, checked by us."""
    return f"TRUNKDROP:{kind.upper()}:{tracking_number}:{owner_id}"


def authorise(
    *, session: Session, retailer: Party, return_in: ReturnCreate, now: datetime
) -> ReturnAuthorisation:
    """The shop says yes to a return for an order: a label for the customer to put on it."""
    customer = parties.get_party(
        session=session, party_id=return_in.customer_id, role=Role.customer
    )
    tracking = new_tracking_number("TDR")
    authorisation = ReturnAuthorisation(
        id=new_id("ret"),
        retailer_id=retailer.id,
        customer_id=customer.id,
        order_ref=return_in.order_ref,
        reason=return_in.reason,
        tracking_number=tracking,
        code_payload=code_payload("return", tracking, retailer.id),
        parcel=return_in.parcel.model_dump(),
        created_at=now,
    )
    session.add(authorisation)
    session.flush()
    events.record(
        session=session,
        event=Event(
            kind="return.authorised",
            at=now,
            subject=authorisation.id,
            actor=retailer.id,
            facts={
                "return_id": authorisation.id,
                "order_ref": authorisation.order_ref,
                "tracking_number": tracking,
            },
            parties=(retailer.id, customer.id),
        ),
    )
    return authorisation


def get_return(*, session: Session, party: Party, return_id: str) -> ReturnAuthorisation:
    """The return, for its shop, its customer or an operator."""
    found = session.get(ReturnAuthorisation, return_id)
    if found is None:
        raise NotFound(f"no return with id {return_id!r}", field="return_id")
    if party.role != Role.operator and party.id not in (found.retailer_id, found.customer_id):
        raise Forbidden("this return belongs to another party")
    return found


def list_returns(
    *, session: Session, party: Party, cursor: str | None, limit: int
) -> Page[ReturnAuthorisation]:
    """The returns the caller's shop authorised, or the customer's own; newest first."""
    query = select(ReturnAuthorisation)
    if party.role == Role.retailer:
        query = query.where(ReturnAuthorisation.retailer_id == party.id)
    elif party.role == Role.customer:
        query = query.where(ReturnAuthorisation.customer_id == party.id)
    elif party.role != Role.operator:
        raise Forbidden("returns are listed for their shop and their customer")
    return page_of(
        session,
        query,
        order=(
            Order(ReturnAuthorisation.created_at, descending=True),
            Order(ReturnAuthorisation.id),
        ),
        key=lambda r: (r.created_at, r.id),
        cursor=cursor,
        limit=limit,
    )


def book_pickup(
    *,
    session: Session,
    settings: Settings,
    customer: Party,
    return_id: str,
    pickup_in: PickupCreate | DoorPickupCreate,
    now: datetime,
) -> ReturnAuthorisation:
    """The customer says where the car stands when: the pickup is booked by the delivery
    rules (eligible car, parcel fits the trunk, places served, windows sound)."""
    authorisation = get_return(session=session, party=customer, return_id=return_id)
    if authorisation.customer_id != customer.id:
        raise Forbidden("only the customer of a return books its pickup")
    if authorisation.delivery_id is not None:
        # One pickup per label; after one that ended without the parcel the shop issues a
        # new return (a label is never booked twice: its tracking number names one pickup).
        booked = lookups.get_delivery(session=session, delivery_id=authorisation.delivery_id)
        raise Conflict(
            f"this return's pickup is already booked ({booked.status})",
            code="pickup_already_booked",
        )
    retailer = parties.get_party(
        session=session, party_id=authorisation.retailer_id, role=Role.retailer
    )
    delivery = deliveries.book(
        session=session,
        settings=settings,
        retailer=retailer,
        delivery_in=DeliveryCreate(
            customer_id=customer.id,
            retailer_reference=authorisation.order_ref,
            parcel=ParcelIn(reference=authorisation.tracking_number, **authorisation.parcel),
            **where_of(pickup_in),
        ),
        now=now,
        purpose=domain.Purpose.return_,
        label_code=authorisation.code_payload,
    )
    authorisation.delivery_id = delivery.id
    session.flush()
    return authorisation


def where_of(pickup_in: PickupCreate | DoorPickupCreate) -> dict[str, Any]:
    """A pickup's place in a booking: the car and its itinerary, or the door (address, day,
    when somebody is in), which books like a delivery to the door."""
    if isinstance(pickup_in, PickupCreate):
        return {"vehicle_id": pickup_in.vehicle_id, "itinerary": pickup_in.itinerary}
    return {
        "fallback_address": pickup_in.address,
        "service_date": pickup_in.service_date,
        "door_window": pickup_in.door_window,
    }


def confirm_ready(
    *, session: Session, customer: Party, return_id: str, now: datetime
) -> ReturnAuthorisation:
    """The customer says the labelled parcel is in the trunk: the driver may open it."""
    authorisation = get_return(session=session, party=customer, return_id=return_id)
    if authorisation.customer_id != customer.id or authorisation.delivery_id is None:
        raise Conflict("book the pickup first", code="pickup_not_booked")
    deliveries.mark_parcel_ready(session=session, delivery_id=authorisation.delivery_id, now=now)
    return authorisation


def to_read(*, session: Session, authorisation: ReturnAuthorisation) -> ReturnRead:
    delivery = (
        None
        if authorisation.delivery_id is None
        else lookups.get_delivery(session=session, delivery_id=authorisation.delivery_id)
    )
    return ReturnRead(
        id=authorisation.id,
        retailer_id=authorisation.retailer_id,
        customer_id=authorisation.customer_id,
        order_ref=authorisation.order_ref,
        reason=authorisation.reason,
        tracking_number=authorisation.tracking_number,
        code_payload=authorisation.code_payload,
        delivery_id=authorisation.delivery_id,
        status="authorised" if delivery is None else delivery.status,
        parcel_ready_at=None if delivery is None else delivery.parcel_ready_at,
        created_at=authorisation.created_at,
    )


def of_customer(*, session: Session, customer_id: str) -> list[ReturnAuthorisation]:
    """Every return authorised for the customer, oldest first (their export)."""
    return list(
        session.scalars(
            select(ReturnAuthorisation)
            .where(ReturnAuthorisation.customer_id == customer_id)
            .order_by(ReturnAuthorisation.created_at, ReturnAuthorisation.id)
        )
    )


def erase_customer_words(*, session: Session, customer_id: str) -> int:
    """The customer's words in their returns (the reason they gave) go; the shop keeps the
    authorisation under its order reference, tracking number and ids."""
    erased = 0
    for authorisation in of_customer(session=session, customer_id=customer_id):
        if authorisation.reason != ERASED:
            authorisation.reason = ERASED
            erased += 1
    session.flush()
    return erased


# What an erased customer's free text reads afterwards.
ERASED = "erased"
