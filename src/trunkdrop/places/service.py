"""Saving, listing and removing a customer's places."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.errors import Forbidden, NotFound
from trunkdrop.parties.models import Party
from trunkdrop.places.models import Place
from trunkdrop.places.schemas import PlaceCreate
from trunkdrop.store.base import new_id


def create_place(*, session: Session, owner: Party, place_in: PlaceCreate, now: datetime) -> Place:
    place = Place(id=new_id("plc"), owner_id=owner.id, created_at=now, **place_in.model_dump())
    session.add(place)
    session.flush()
    return place


def list_places(*, session: Session, owner_id: str) -> list[Place]:
    return list(
        session.scalars(
            select(Place)
            .where(Place.owner_id == owner_id, Place.deleted_at.is_(None))
            .order_by(Place.created_at)
        )
    )


def get_place(*, session: Session, place_id: str, owner_id: str) -> Place:
    place = session.get(Place, place_id)
    if place is None or place.deleted_at is not None:
        raise NotFound(f"no place with id {place_id!r}", field="place_id")
    if place.owner_id != owner_id:
        raise Forbidden("this place belongs to another customer", field="place_id")
    return place


def get_customers_place(
    *, session: Session, place_id: str, customer_id: str, field: str = "place_id"
) -> Place:
    """The customer's own saved place, for booking. Another customer's is not found, as one
    that does not exist: a shop must not learn which places exist."""
    place = session.get(Place, place_id)
    if place is None or place.deleted_at is not None or place.owner_id != customer_id:
        raise NotFound(f"the customer has no place with id {place_id!r}", field=field)
    return place


def delete_place(*, session: Session, place: Place, now: datetime) -> None:
    place.deleted_at = now
    session.flush()
