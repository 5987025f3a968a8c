"""Reading deliveries back: one by id, a party's list, the itinerary, the car, and
who may see them."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from trunkdrop.deliveries.models import Attempt, Delivery, DeliveryOption, TimelineEntry
from trunkdrop.deliveries.schemas import (
    AttemptRead,
    DeliveryRead,
    ItineraryEntryRead,
    TimelineRead,
)
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.errors import Forbidden, NotFound
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.pages import Order, Page, page_of
from trunkdrop.vehicles.models import Vehicle


def get_delivery(*, session: Session, delivery_id: str) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery with id {delivery_id!r}", field="delivery_id")
    return delivery


def check_delivery_access(*, session: Session, party: Party, delivery: Delivery) -> None:
    allowed = {
        Role.operator: True,
        Role.retailer: delivery.retailer_id == party.id,
        Role.customer: delivery.customer_id == party.id,
        Role.carrier: delivery.carrier_id == party.id,
    }.get(Role(party.role))
    if party.role == Role.driver:
        allowed = (
            session.scalars(
                _DRIVERS_DELIVERIES.where(Delivery.id == delivery.id), {"driver_id": party.id}
            ).first()
            is not None
        )
    if not allowed:
        raise Forbidden("this delivery belongs to another party")


# What a driver may see: the deliveries they still have to visit (a pending stop on one of
# their routes) and those they attempted themselves; not one taken off their route.
_DRIVERS_DELIVERIES = select(Delivery.id).where(
    or_(
        Delivery.id.in_(
            select(RouteStop.delivery_id)
            .join(Route, Route.id == RouteStop.route_id)
            .where(Route.driver_id == bindparam("driver_id"), RouteStop.status == "pending")
        ),
        Delivery.id.in_(
            select(Attempt.delivery_id).where(Attempt.driver_id == bindparam("driver_id"))
        ),
    )
)


def list_deliveries(
    *,
    session: Session,
    party: Party,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page[Delivery]:
    """The deliveries `party` takes part in, the newest booking first, one page."""
    query = select(Delivery)
    column = {
        Role.retailer: Delivery.retailer_id,
        Role.customer: Delivery.customer_id,
        Role.carrier: Delivery.carrier_id,
    }.get(Role(party.role))
    if column is not None:
        query = query.where(column == party.id)
    elif party.role == Role.driver:
        query = query.where(
            Delivery.id.in_(_DRIVERS_DELIVERIES.params(driver_id=party.id).scalar_subquery())
        )
    elif party.role != Role.operator:
        # An allow-list: a role this does not name (a car maker) sees no delivery.
        raise Forbidden("deliveries are listed for their customer, shop, carrier and driver")
    if status is not None:
        query = query.where(Delivery.status == status)
    return page_of(
        session,
        query,
        order=(Order(Delivery.created_at, descending=True), Order(Delivery.id)),
        key=lambda d: (d.created_at, d.id),
        cursor=cursor,
        limit=limit,
    )


def options_of(*, session: Session, delivery_id: str) -> list[DeliveryOption]:
    return list(
        session.scalars(
            select(DeliveryOption)
            .where(DeliveryOption.delivery_id == delivery_id)
            .order_by(DeliveryOption.seq)
        )
    )


# Every access request reads its booked place and window: built once.
_OPTION = select(DeliveryOption).where(
    DeliveryOption.delivery_id == bindparam("delivery_id"), DeliveryOption.seq == bindparam("seq")
)


def option(*, session: Session, delivery_id: str, seq: int) -> DeliveryOption:
    found = session.scalars(_OPTION, {"delivery_id": delivery_id, "seq": seq}).one_or_none()
    if found is None:
        raise NotFound(f"delivery {delivery_id} has no itinerary entry {seq}")
    return found


def _drivers_stops(session: Session, driver_id: str, delivery_id: str) -> list[RouteStop]:
    return list(
        session.scalars(
            select(RouteStop)
            .join(Route, Route.id == RouteStop.route_id)
            .where(Route.driver_id == driver_id, RouteStop.delivery_id == delivery_id)
        )
    )


def to_read(*, session: Session, delivery: Delivery, viewer: Party | None = None) -> DeliveryRead:
    """The delivery as `viewer` may see it. A driver sees the places of their own stops
    only: not the rest of the customer's itinerary (where the car stands all day), and the
    home address only for a stop at the door."""
    itinerary = options_of(session=session, delivery_id=delivery.id)
    fallback_address = delivery.fallback_address
    if viewer is not None and viewer.role == Role.driver:
        stops = _drivers_stops(session, viewer.id, delivery.id)
        seqs = {stop.option_seq for stop in stops if stop.mode == "trunk"}
        itinerary = [o for o in itinerary if o.seq in seqs]
        if not any(stop.mode == "home" for stop in stops):
            fallback_address = None
    attempts = session.scalars(
        select(Attempt)
        .where(Attempt.delivery_id == delivery.id)
        .order_by(Attempt.started_at, Attempt.id)
    )
    timeline = session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.delivery_id == delivery.id)
        .order_by(TimelineEntry.at, TimelineEntry.id)
    )
    return DeliveryRead(
        id=delivery.id,
        status=delivery.status,
        mode=delivery.mode,
        purpose=delivery.purpose,
        parcel_ready_at=delivery.parcel_ready_at,
        outcome=delivery.outcome,
        outcome_reason=delivery.outcome_reason,
        retailer_id=delivery.retailer_id,
        retailer_reference=delivery.retailer_reference,
        customer_id=delivery.customer_id,
        carrier_id=delivery.carrier_id,
        vehicle_id=delivery.vehicle_id,
        service_date=delivery.service_date,
        parcel_ref=delivery.parcel_ref,
        current_option=delivery.current_option,
        itinerary=[ItineraryEntryRead.model_validate(o) for o in itinerary],
        fallback_address=fallback_address,
        created_at=delivery.created_at,
        ended_at=delivery.ended_at,
        attempts=[AttemptRead.model_validate(a) for a in attempts],
        timeline=[TimelineRead.model_validate(t) for t in timeline],
    )


# The access request reads a delivery, its car and the booked entry together: one statement.
_AT_THE_CAR = (
    select(Delivery, Vehicle, DeliveryOption)
    .join(Vehicle, Vehicle.id == Delivery.vehicle_id)
    .join(
        DeliveryOption,
        and_(DeliveryOption.delivery_id == Delivery.id, DeliveryOption.seq == bindparam("seq")),
    )
    .where(Delivery.id == bindparam("delivery_id"))
)


def delivery_at_the_car(
    *, session: Session, delivery_id: str, seq: int
) -> tuple[Delivery, Vehicle, DeliveryOption]:
    """The delivery, its car and its itinerary entry `seq`, read in one statement; a
    missing one is named as `get_delivery`, `vehicle_for` and `option` name it."""
    row = session.execute(_AT_THE_CAR, {"delivery_id": delivery_id, "seq": seq}).one_or_none()
    if row is not None:
        return row[0], row[1], row[2]
    delivery = get_delivery(session=session, delivery_id=delivery_id)
    vehicle = vehicle_for(session=session, delivery=delivery)
    return delivery, vehicle, option(session=session, delivery_id=delivery_id, seq=seq)


def vehicle_for(*, session: Session, delivery: Delivery) -> Vehicle:
    vehicle = session.get(Vehicle, delivery.vehicle_id)
    if vehicle is None:  # pragma: no cover - foreign key
        raise NotFound("the delivery's vehicle is gone")
    return vehicle
