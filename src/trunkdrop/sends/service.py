"""Sends from the car: buy postage (price list, payment port), the label, book the pickup
from the trunk as a return's, and the customer's word that the parcel is there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import domain as delivery_domain
from trunkdrop.deliveries import lookups
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.schemas import DeliveryCreate, ParcelIn
from trunkdrop.errors import Conflict, Forbidden, InvalidInput, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party, Role
from trunkdrop.payments.ports import PaymentDeclined, PaymentPort
from trunkdrop.returns import service as returns
from trunkdrop.returns.schemas import DoorPickupCreate, PickupCreate
from trunkdrop.sends import domain, labels
from trunkdrop.sends.models import Send
from trunkdrop.sends.schemas import SendCreate, SendRead
from trunkdrop.store.base import new_id
from trunkdrop.store.pages import Order, Page, page_of


def buy(
    *,
    session: Session,
    settings: Settings,
    payments: PaymentPort,
    customer: Party,
    send_in: SendCreate,
    now: datetime,
) -> Send:
    """Price the item from the carrier's list, charge it through the payment port, and
    make the label. The charge comes last: nothing after it can refuse the purchase."""
    item = send_in.parcel
    chosen = domain.postage_class(
        kind=send_in.kind,
        dims_cm=(item.length_cm, item.width_cm, item.height_cm),
        weight_g=item.weight_g,
        price_list=settings.postage_classes,
    )
    if chosen is None:
        raise InvalidInput(
            f"no {send_in.kind} class of the price list takes {item.weight_g} g at "
            f"{item.length_cm}×{item.width_cm}×{item.height_cm} cm",
            code="no_postage_class",
            field="parcel",
        )
    tracking = returns.new_tracking_number("TDS")
    send = Send(
        id=new_id("snd"),
        customer_id=customer.id,
        kind=send_in.kind,
        postage_class=chosen.name,
        amount_cents=chosen.price_cents,
        currency=settings.postage_currency,
        payment_id="",
        recipient_name=send_in.recipient.name,
        recipient_address=send_in.recipient.address,
        tracking_number=tracking,
        code_payload=returns.code_payload("send", tracking, customer.id),
        parcel=item.model_dump(),
        created_at=now,
    )
    session.add(send)
    session.flush()
    try:
        payment = payments.charge(
            reference=send.id, amount_cents=send.amount_cents, currency=send.currency, now=now
        )
    except PaymentDeclined as e:
        raise Conflict(f"the payment was declined: {e}", code="payment_declined") from e
    send.payment_id = payment.id
    send.paid_at = payment.at if payment.paid else None
    events.record(
        session=session,
        event=Event(
            kind="send.bought",
            at=now,
            subject=send.id,
            actor=customer.id,
            facts={
                "send_id": send.id,
                "tracking_number": tracking,
                "postage_class": chosen.name,
                "amount_cents": send.amount_cents,
                "currency": send.currency,
                "paid": payment.paid,
            },
            parties=(customer.id,),
        ),
    )
    session.flush()
    return send


def get_send(*, session: Session, party: Party, send_id: str) -> Send:
    """The send, for its customer or an operator."""
    send = session.get(Send, send_id)
    if send is None:
        raise NotFound(f"no send with id {send_id!r}", field="send_id")
    if party.role != Role.operator and party.id != send.customer_id:
        raise Forbidden("this send is another customer's")
    return send


def list_sends(*, session: Session, party: Party, cursor: str | None, limit: int) -> Page[Send]:
    """The customer's sends (an operator's: all), newest first."""
    query = select(Send)
    if party.role == Role.customer:
        query = query.where(Send.customer_id == party.id)
    elif party.role != Role.operator:
        raise Forbidden("sends are listed for their customer")
    return page_of(
        session,
        query,
        order=(Order(Send.created_at, descending=True), Order(Send.id)),
        key=lambda s: (s.created_at, s.id),
        cursor=cursor,
        limit=limit,
    )


def book_pickup(
    *,
    session: Session,
    settings: Settings,
    customer: Party,
    send_id: str,
    pickup_in: PickupCreate | DoorPickupCreate,
    now: datetime,
) -> Send:
    """Book the pickup from the trunk under the delivery rules. The customer is the sender:
    the shop's place on the delivery is theirs."""
    send = get_send(session=session, party=customer, send_id=send_id)
    if send.customer_id != customer.id:
        raise Forbidden("only the customer of a send books its pickup")
    if send.paid_at is None:
        raise Conflict("the postage is not paid", code="postage_not_paid")
    if send.delivery_id is not None:
        raise Conflict("this send's pickup is already booked", code="pickup_already_booked")
    delivery = deliveries.book(
        session=session,
        settings=settings,
        retailer=customer,
        delivery_in=DeliveryCreate(
            customer_id=customer.id,
            retailer_reference=send.id,
            parcel=ParcelIn(reference=send.tracking_number, **send.parcel),
            **returns.where_of(pickup_in),
        ),
        now=now,
        purpose=delivery_domain.Purpose.send,
        label_code=send.code_payload,
    )
    send.delivery_id = delivery.id
    session.flush()
    return send


def confirm_ready(*, session: Session, customer: Party, send_id: str, now: datetime) -> Send:
    """The customer put the labelled letter or parcel in the trunk."""
    send = get_send(session=session, party=customer, send_id=send_id)
    if send.customer_id != customer.id or send.delivery_id is None:
        raise Conflict("book the pickup first", code="pickup_not_booked")
    deliveries.mark_parcel_ready(session=session, delivery_id=send.delivery_id, now=now)
    return send


def label(*, send: Send, fmt: str) -> bytes:
    """The label as `png` or `pdf`."""
    render = labels.label_pdf if fmt == "pdf" else labels.label_png
    return render(
        tracking_number=send.tracking_number,
        code_payload=send.code_payload,
        lines=[send.recipient_name, send.recipient_address],
    )


def to_read(*, session: Session, send: Send) -> SendRead:
    delivery = (
        None
        if send.delivery_id is None
        else lookups.get_delivery(session=session, delivery_id=send.delivery_id)
    )
    return SendRead(
        id=send.id,
        customer_id=send.customer_id,
        kind=send.kind,
        postage_class=send.postage_class,
        amount_cents=send.amount_cents,
        currency=send.currency,
        paid=send.paid_at is not None,
        payment_id=send.payment_id,
        tracking_number=send.tracking_number,
        code_payload=send.code_payload,
        recipient_name=send.recipient_name,
        recipient_address=send.recipient_address,
        label_png=f"/v1/sends/{send.id}/label.png",
        label_pdf=f"/v1/sends/{send.id}/label.pdf",
        delivery_id=send.delivery_id,
        status="bought" if delivery is None else delivery.status,
        parcel_ready_at=None if delivery is None else delivery.parcel_ready_at,
        created_at=send.created_at,
    )


def of_customer(*, session: Session, customer_id: str) -> list[Send]:
    """Every send the customer bought, oldest first (their export)."""
    return list(
        session.scalars(
            select(Send).where(Send.customer_id == customer_id).order_by(Send.created_at, Send.id)
        )
    )


def erase_recipients(*, session: Session, customer_id: str) -> int:
    """Whom the customer sent to (name and address) goes; the postage record stays under
    its ids, tracking number and amount (the payment's and the carrier's records)."""
    erased = 0
    for send in of_customer(session=session, customer_id=customer_id):
        if (send.recipient_name, send.recipient_address) != ("erased", ""):
            send.recipient_name, send.recipient_address = "erased", ""
            erased += 1
    session.flush()
    return erased
