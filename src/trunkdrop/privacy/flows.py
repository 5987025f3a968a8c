"""Everything trunkdrop holds about one party, gathered from every domain (GDPR art. 15, 20)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.consents import service as consents
from trunkdrop.consents.schemas import ConsentRead
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Delivery
from trunkdrop.notify.models import OutboxMessage
from trunkdrop.parties.models import Party
from trunkdrop.parties.schemas import PartyRead
from trunkdrop.places import service as places
from trunkdrop.places.schemas import PlaceRead
from trunkdrop.vehicles import service as vehicles


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
            deliveries.to_read(session=session, delivery=d, viewer=party).model_dump(mode="json")
            for d in customer_deliveries
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
