"""Saving, listing and removing a customer's places."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trunkdrop.errors import Forbidden, InvalidInput, NotFound
from trunkdrop.parties.models import Party
from trunkdrop.places.models import Place
from trunkdrop.places.schemas import PlaceCreate, PlaceUpdate
from trunkdrop.store.base import new_id
from trunkdrop.store.pages import Order, Page, page_of


def create_place(*, session: Session, owner: Party, place_in: PlaceCreate, now: datetime) -> Place:
    place = Place(id=new_id("plc"), owner_id=owner.id, created_at=now, **place_in.model_dump())
    session.add(place)
    session.flush()
    return place


def list_places(*, session: Session, owner_id: str) -> list[Place]:
    return list(session.scalars(_places(owner_id).order_by(Place.created_at, Place.id)))


def page_places(*, session: Session, owner_id: str, cursor: str | None, limit: int) -> Page[Place]:
    """The customer's places, oldest first, one page."""
    return page_of(
        session,
        _places(owner_id),
        order=(Order(Place.created_at), Order(Place.id)),
        key=lambda p: (p.created_at, p.id),
        cursor=cursor,
        limit=limit,
    )


def _places(owner_id: str) -> Select[Any]:
    return select(Place).where(Place.owner_id == owner_id, Place.deleted_at.is_(None))


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


def update_place(*, session: Session, place: Place, place_in: PlaceUpdate) -> Place:
    """Change a saved place; bookings already made keep the copy they were booked with."""
    for name, value in place_in.model_dump(exclude_unset=True).items():
        if value is None:
            raise InvalidInput(f"{name}: may be left out, not null", field=name)
        setattr(place, name, value)
    session.flush()
    return place


def delete_place(*, session: Session, place: Place, now: datetime) -> None:
    place.deleted_at = now
    session.flush()


def erase_places(*, session: Session, owner_id: str, now: datetime) -> int:
    """Erasure (GDPR art. 17): every place of the owner loses its label, position, address
    and notes; the row stays (bookings' copies name it) but says nothing about anyone."""
    owned = list(session.scalars(select(Place).where(Place.owner_id == owner_id)))
    for place in owned:
        place.label, place.address, place.parking_notes = "erased", "", ""
        place.latitude = place.longitude = 0.0
        place.deleted_at = place.deleted_at or now
    session.flush()
    return len(owned)
