"""Everything trunkdrop holds about one party, gathered from every domain (GDPR art. 15,
20), and erased from every domain (art. 17)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.consents import service as consents
from trunkdrop.consents.schemas import ConsentRead
from trunkdrop.deliveries import domain as delivery_states
from trunkdrop.deliveries import erasure, lookups, upkeep, withdrawals
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Delivery
from trunkdrop.errors import Conflict
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.idempotency import service as idempotency
from trunkdrop.notify import service as notify
from trunkdrop.notify.models import OutboxMessage
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party
from trunkdrop.parties.schemas import PartyRead
from trunkdrop.places import service as places
from trunkdrop.places.schemas import PlaceRead
from trunkdrop.returns import service as returns
from trunkdrop.sends import service as sends
from trunkdrop.vehicles import consent as vehicle_consents
from trunkdrop.vehicles import service as vehicles
from trunkdrop.web import signin


def export(*, session: Session, party: Party) -> dict[str, Any]:
    """The party's personal data as one JSON-ready document."""
    party = session.get(Party, party.id) or party
    customer_deliveries = session.scalars(
        select(Delivery)
        .where(Delivery.customer_id == party.id)
        .order_by(Delivery.created_at, Delivery.id)
    ).all()
    messages = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient_id == party.id)
        .order_by(OutboxMessage.id)
    ).all()
    return {
        "party": PartyRead.model_validate(party).model_dump(mode="json"),
        "vehicles": [
            vehicles.to_read(v).model_dump(mode="json")
            for v in vehicles.list_vehicles(session=session, owner=party)
        ],
        "places": [
            PlaceRead.model_validate(p).model_dump(mode="json")
            for p in places.list_places(session=session, owner_id=party.id)
        ],
        "consents": [
            ConsentRead.model_validate(c).model_dump(mode="json")
            for c in consents.list_consents(session=session, customer_id=party.id)
        ],
        "deliveries": [
            lookups.to_read(session=session, delivery=d, viewer=party).model_dump(mode="json")
            for d in customer_deliveries
        ],
        "returns": [
            returns.to_read(session=session, authorisation=r).model_dump(mode="json")
            for r in returns.of_customer(session=session, customer_id=party.id)
        ],
        "sends": [
            sends.to_read(session=session, send=s).model_dump(mode="json")
            for s in sends.of_customer(session=session, customer_id=party.id)
        ],
        "messages": [
            {
                "topic": m.topic,
                "delivery_id": m.delivery_id,
                "payload": m.payload,
                "created_at": m.created_at.isoformat(),
                "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            }
            for m in messages
        ],
    }


def erase(*, session: Session, settings: Settings, party: Party, now: datetime) -> dict[str, int]:
    """Erase the customer's personal data (GDPR art. 17), or pseudonymise what the shop's
    and carrier's shipping records and the audit chain still name by id. Refused while a
    delivery of theirs is out for delivery: a driver is on the way to the car."""
    party = session.get(Party, party.id) or party
    own = list(
        session.scalars(
            select(Delivery)
            .where(Delivery.customer_id == party.id)
            .order_by(Delivery.id)
            .with_for_update()
        )
    )
    on_the_way = [d.id for d in own if d.status == delivery_states.DeliveryStatus.out_for_delivery]
    if on_the_way:
        raise Conflict(
            "a delivery of yours is out for delivery: erase your data once it has ended",
            code="delivery_in_progress",
            extra={"delivery_ids": on_the_way},
        )
    cancelled = 0
    for delivery in own:
        if delivery.status == delivery_states.DeliveryStatus.booked:
            deliveries.cancel_for_erasure(session=session, delivery=delivery, now=now)
            cancelled += 1
    cars = vehicles.every_vehicle_of(session=session, owner_id=party.id)
    for car in cars:
        if car.unlinked_at is None:
            withdrawals.unlink_vehicle(
                session=session, settings=settings, owner=party, vehicle_id=car.id, now=now
            )
        vehicles.pseudonymise(session=session, vehicle=car)
    # A car with a grant revoked just now keeps its maker's id until the grant would have
    # expired (the worker's sweep): the car must still hear of the revocation.
    upkeep.forget_unlinked_maker_ids(session=session, now=now)
    vehicle_consents.forget_requests(session=session, now=now, owner_id=party.id)
    counts = {
        "deliveries_cancelled": cancelled,
        "vehicles": len(cars),
        "places": places.erase_places(session=session, owner_id=party.id, now=now),
        "consents_revoked": consents.revoke_all(session=session, customer_id=party.id, now=now),
        "api_keys_revoked": parties.revoke_api_keys(
            session=session, by=party, party_id=party.id, now=now
        ),
        "sessions_ended": signin.end_sessions_of(session=session, party_id=party.id, now=now),
        # A return's reason and a send's recipient are the customer's words.
        "returns": returns.erase_customer_words(session=session, customer_id=party.id),
        "sends": sends.erase_recipients(session=session, customer_id=party.id),
    }
    # Last: the cancellations above told the customer too, and their words go with the rest.
    counts["deliveries"] = erasure.erase_customer_copies(session=session, customer_id=party.id)
    counts["messages"] = notify.forget_messages(
        session=session, recipient_id=party.id, delivery_ids=[d.id for d in own]
    )
    idempotency.forget_party(session=session, party_id=party.id)
    party = session.get(Party, party.id) or party
    parties.pseudonymise(session=session, party=party)
    events.record(
        session=session,
        event=Event(kind="party.erased", at=now, subject=party.id, actor=party.id, facts=counts),
    )
    session.flush()
    return counts
