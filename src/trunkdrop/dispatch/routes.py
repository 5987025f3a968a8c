"""Routes and their stops as a carrier and a driver see them: a route planned by hand, started
(its parcels out for delivery), read stop by stop, closed at the end of the day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, lookups
from trunkdrop.deliveries.models import Attempt, Delivery, DeliveryOption
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.dispatch.schemas import RouteRead, StopRead, VehicleBrief
from trunkdrop.errors import Conflict, Forbidden, InvalidInput, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.geo import distance_m
from trunkdrop.parties.models import Party
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle


def plan_route(
    *,
    session: Session,
    carrier: Party,
    driver_id: str,
    service_date: date,
    delivery_ids: list[str],
    now: datetime,
) -> Route:
    """Put booked deliveries on a driver's route, in the given order."""
    if len(set(delivery_ids)) != len(delivery_ids):
        raise InvalidInput("a delivery appears twice in this route", field="delivery_ids")
    route = dispatch.create_route(
        session=session, carrier=carrier, driver_id=driver_id, service_date=service_date, now=now
    )
    for i, delivery_id in enumerate(delivery_ids):
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery with id {delivery_id!r}", field=f"delivery_ids[{i}]")
        if delivery.carrier_id != carrier.id:
            raise Forbidden("this delivery is another carrier's", field=f"delivery_ids[{i}]")
        if delivery.status != domain.DeliveryStatus.booked:
            raise Conflict(
                f"delivery {delivery_id} is {delivery.status}, not booked",
                code="illegal_transition",
                field=f"delivery_ids[{i}]",
            )
        if dispatch.pending_stop_for(session=session, delivery_id=delivery_id) is not None:
            raise Conflict(
                f"delivery {delivery_id} is already on a route",
                code="already_routed",
                field=f"delivery_ids[{i}]",
            )
        dispatch.add_stop(
            session=session,
            route=route,
            delivery_id=delivery.id,
            mode=delivery.mode,
            option_seq=delivery.current_option,
        )
        events.record(
            session=session,
            event=Event(
                kind="delivery.planned",
                at=now,
                subject=delivery.id,
                delivery_id=delivery.id,
                text=f"planned for {service_date.isoformat()}",
            ),
        )
    return route


def start_route(
    *, session: Session, settings: Settings, party: Party, route: Route, now: datetime
) -> Route:
    dispatch.check_route_access(party, route)
    # Read again under its own row's lock: two set-offs of one van, or a loading check moving
    # a parcel onto it (which holds this row too), are over before its status and stops are
    # read here. Its row only: a van that leaves need not wait for the others.
    dispatch.hold_route(session=session, route=route)
    if route.status != "planned":
        raise Conflict(
            f"route is {route.status}, only a planned route can start", code="illegal_transition"
        )
    route.status, route.started_at = "started", now
    for stop in dispatch.stops_of(session=session, route_id=route.id):
        if stop.status != "pending":
            continue
        delivery = lookups.get_delivery(session=session, delivery_id=stop.delivery_id)
        if delivery.status == domain.DeliveryStatus.booked:
            delivery.status = domain.check_delivery_transition(
                delivery.status, domain.DeliveryStatus.out_for_delivery
            )
            events.record(
                session=session,
                event=Event(
                    kind="delivery.out_for_delivery",
                    at=now,
                    subject=delivery.id,
                    delivery_id=delivery.id,
                    facts={"status": delivery.status},
                    text="driver on the way — please don't move the car",
                    parties=(delivery.retailer_id, delivery.customer_id),
                ),
            )
    session.flush()
    return route


@dataclass(frozen=True)
class _StopFacts:
    """What a stop's reading shows, loaded for all stops of a route at once."""

    deliveries: dict[str, Delivery]
    options: dict[tuple[str, int], DeliveryOption]
    vehicles: dict[str, Vehicle]
    attempts: dict[str, str]  # stop id -> attempt id


def _stop_facts(session: Session, stops: list[RouteStop]) -> _StopFacts:
    """Four queries for a route, however many stops it has (the driver's app reads it often)."""
    delivery_ids = {stop.delivery_id for stop in stops}
    found = list(session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids))))
    vehicle_ids = {d.vehicle_id for d in found if d.vehicle_id is not None}
    options = session.scalars(
        select(DeliveryOption).where(DeliveryOption.delivery_id.in_(delivery_ids))
    )
    attempts = session.execute(
        select(Attempt.stop_id, Attempt.id).where(Attempt.stop_id.in_([s.id for s in stops]))
    )
    return _StopFacts(
        deliveries={d.id: d for d in found},
        options={(o.delivery_id, o.seq): o for o in options},
        vehicles={
            v.id: v for v in session.scalars(select(Vehicle).where(Vehicle.id.in_(vehicle_ids)))
        },
        attempts={stop_id: attempt_id for stop_id, attempt_id in attempts},
    )


def _at_booked_place(
    car: Vehicle, where: DeliveryOption, *, settings: Settings, now: datetime
) -> bool | None:
    """The car's last fresh report puts it within the radius of the booked place (None: it
    has not reported where it is, or not lately)."""
    if car.latitude is None or car.longitude is None or car.position_at is None:
        return None
    if (now - car.position_at).total_seconds() > settings.position_max_age_s:
        return None
    away = distance_m(car.latitude, car.longitude, where.latitude, where.longitude)
    return away <= settings.vehicle_radius_m


def stop_to_read(
    *,
    session: Session,
    settings: Settings,
    stop: RouteStop,
    next_id: str | None,
    now: datetime,
    facts: _StopFacts | None = None,
) -> StopRead:
    facts = facts or _stop_facts(session, [stop])
    delivery = facts.deliveries[stop.delivery_id]
    attempt_id = facts.attempts.get(stop.id)
    if stop.mode == "trunk" and stop.option_seq is not None and delivery.vehicle_id is not None:
        where = facts.options.get((delivery.id, stop.option_seq))
        if where is None:
            raise NotFound(f"delivery {delivery.id} has no itinerary entry {stop.option_seq}")
        car = facts.vehicles[delivery.vehicle_id]
        # Where the car stands is told only while this stop is still to be made, for the
        # place the delivery is going to, within its window, with the owner's consent...
        asked = (
            stop.status == "pending"
            # Not yet ended (a delivery re-planned onto a started route is still "booked").
            and delivery.status
            in (domain.DeliveryStatus.booked, domain.DeliveryStatus.out_for_delivery)
            and delivery.current_option == stop.option_seq
            and where.window_start <= now < where.window_end
            and vehicles.location_consented(car, now=now)
        )
        # ...and its position only while it stands at that place: a car 5 km away is "not
        # there", never where it is (that is the owner's day, not the carrier's business).
        at_place = _at_booked_place(car, where, settings=settings, now=now) if asked else None
        brief = VehicleBrief(
            plate=car.plate,
            make=car.make,
            model=car.model,
            colour=car.colour,
            latitude=car.latitude if at_place else None,
            longitude=car.longitude if at_place else None,
            at_place=at_place,
        )
        place = {
            "label": where.label,
            "address": where.address,
            "latitude": where.latitude,
            "longitude": where.longitude,
            "parking_notes": where.parking_notes,
            "window_start": where.window_start,
            "window_end": where.window_end,
        }
    else:
        brief = None
        place = {
            "label": "fallback address",
            "address": delivery.fallback_address or "",
            "latitude": delivery.fallback_latitude or 0.0,
            "longitude": delivery.fallback_longitude or 0.0,
            "parking_notes": "",
            "window_start": None,
            "window_end": None,
        }
    return StopRead(
        id=stop.id,
        route_id=stop.route_id,
        seq=stop.seq,
        status=stop.status,
        mode=stop.mode,
        purpose=delivery.purpose,
        load="pickup" if domain.is_pickup(delivery.purpose) else "delivery",
        is_next=stop.id == next_id,
        delivery_id=delivery.id,
        parcel_ref=delivery.parcel_ref,
        eta=stop.eta,
        vehicle=brief,
        attempt_id=attempt_id,
        **place,
    )


def next_stop_to_read(
    *, session: Session, settings: Settings, driver: Party, now: datetime
) -> StopRead:
    """The first open stop of the driver's started routes; today's route before one left
    started on an earlier day."""
    found = session.execute(_NEXT_STOP, {"driver_id": driver.id}).first()
    if found is None:
        raise NotFound("no open stop on your started routes", code="no_open_stop")
    stop, delivery, option, vehicle, attempt_id = found
    facts = _StopFacts(
        deliveries={delivery.id: delivery},
        options={} if option is None else {(option.delivery_id, option.seq): option},
        vehicles={} if vehicle is None else {vehicle.id: vehicle},
        attempts={} if attempt_id is None else {stop.id: attempt_id},
    )
    return stop_to_read(
        session=session, settings=settings, stop=stop, next_id=stop.id, now=now, facts=facts
    )


# One query for the stop and all it shows: the app asks before every stop (built once).
# The stop is picked first, on the narrow stop rows alone: joined and with the attempt
# looked up for every open stop, a day's route of a hundred and more stops cost the database
# a hundred lookups per ask.
_NEXT_STOP_ID = (
    dispatch.drivers_open_stops(driver_id=bindparam("driver_id"))
    .with_only_columns(RouteStop.id)
    .limit(1)
    .scalar_subquery()
)
_NEXT_STOP = (
    select(RouteStop)
    .where(RouteStop.id == _NEXT_STOP_ID)
    .add_columns(
        Delivery,
        DeliveryOption,
        Vehicle,
        select(Attempt.id)
        .where(Attempt.stop_id == RouteStop.id)
        .order_by(Attempt.started_at.desc())
        .limit(1)
        .scalar_subquery(),
    )
    .join(Delivery, Delivery.id == RouteStop.delivery_id)
    .outerjoin(
        DeliveryOption,
        and_(
            DeliveryOption.delivery_id == RouteStop.delivery_id,
            DeliveryOption.seq == RouteStop.option_seq,
        ),
    )
    .outerjoin(Vehicle, Vehicle.id == Delivery.vehicle_id)
)


def route_to_read(
    *, session: Session, settings: Settings, route: Route, now: datetime
) -> RouteRead:
    stops = dispatch.stops_of(session=session, route_id=route.id)
    # The driver has one next stop across all their started routes, not one per route.
    next_id = (
        dispatch.drivers_next_stop_id(session=session, driver_id=route.driver_id)
        if route.status == "started"
        else None
    )
    facts = _stop_facts(session, stops)
    return RouteRead(
        id=route.id,
        carrier_id=route.carrier_id,
        driver_id=route.driver_id,
        service_date=route.service_date,
        status=route.status,
        stops=[
            stop_to_read(
                session=session, settings=settings, stop=s, next_id=next_id, now=now, facts=facts
            )
            for s in stops
        ],
    )


def unrouted(*, session: Session, carrier_id: str, service_date: date) -> list[Delivery]:
    """Booked deliveries of a carrier for `service_date` that are not on a route."""
    on_route = select(RouteStop.delivery_id).where(RouteStop.status == "pending")
    return list(
        session.scalars(
            select(Delivery)
            .where(
                Delivery.carrier_id == carrier_id,
                Delivery.service_date == service_date,
                Delivery.status == domain.DeliveryStatus.booked,
                Delivery.id.not_in(on_route),
            )
            .order_by(Delivery.created_at, Delivery.id)
        )
    )


def close_route(*, session: Session, party: Party, route: Route, now: datetime) -> Route:
    """End the driver's day: stops not reached go back to the depot, their parcels to `booked`
    with the reason `not_reached`, ready to be planned for another day. Nothing is dropped."""
    dispatch.check_route_access(party, route)
    # Read under its lock: a set-off committing meanwhile has sent its parcels out for
    # delivery, and those go back to `booked` here, not stay out on a finished route.
    dispatch.hold_route(session=session, route=route)
    if route.status == "finished":
        raise Conflict("the route is already finished", code="illegal_transition")
    for stop in dispatch.stops_of(session=session, route_id=route.id):
        if stop.status != "pending":
            continue
        if dispatch.has_attempt(session=session, stop_id=stop.id):
            raise Conflict(
                "an attempt at a stop of this route is still under way", code="attempt_in_progress"
            )
        dispatch.finish_stop(stop=stop, status="cancelled")
        delivery = lookups.get_delivery(session=session, delivery_id=stop.delivery_id)
        if delivery.status == domain.DeliveryStatus.out_for_delivery:
            delivery.status = domain.check_delivery_transition(
                delivery.status, domain.DeliveryStatus.booked
            )
            delivery.outcome_reason = domain.Reason.not_reached
            events.record(
                session=session,
                event=Event(
                    kind="delivery.not_reached",
                    at=now,
                    subject=delivery.id,
                    delivery_id=delivery.id,
                    facts={"reason": "not_reached"},
                    text="not reached today; the parcel is back at the depot for another day",
                    parties=(delivery.retailer_id, delivery.customer_id),
                ),
            )
    route.status = "finished"
    session.flush()
    return route
