"""Checkout options, booking, cancelling, routing deliveries onto routes, reading them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trunkdrop.access import audit
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain
from trunkdrop.deliveries.models import Attempt, Delivery, DeliveryOption, TimelineEntry
from trunkdrop.deliveries.schemas import (
    AttemptRead,
    CheckoutOption,
    CheckoutOptionsRead,
    CheckoutRequest,
    DeliveryCreate,
    DeliveryRead,
    ItineraryEntryRead,
    ParcelIn,
    RuleRead,
    TimelineRead,
)
from trunkdrop.dispatch import reach
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.dispatch.schemas import RouteRead, StopRead, VehicleBrief
from trunkdrop.errors import Conflict, Forbidden, InvalidInput, NotFound
from trunkdrop.geo import distance_m
from trunkdrop.notify import service as notify
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party, Role
from trunkdrop.places import service as places
from trunkdrop.store.base import append_rows, new_id
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle


def item_rules(settings: Settings) -> domain.ItemRules:
    return domain.ItemRules(
        max_weight_g=settings.max_weight_g,
        max_dims_cm=(settings.max_length_cm, settings.max_width_cm, settings.max_height_cm),
        max_declared_value_cents=settings.max_declared_value_cents,
    )


def to_parcel(parcel_in: ParcelIn) -> domain.Parcel:
    return domain.Parcel(**parcel_in.model_dump(exclude={"reference"}))


def add_timeline(
    *, session: Session, delivery_id: str, kind: str, text: str, now: datetime
) -> None:
    append_rows(
        session,
        TimelineEntry,
        [{"delivery_id": delivery_id, "at": now, "kind": kind, "text": text[:300]}],
    )


def local_time(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%H:%M")


# -- checkout ------------------------------------------------------------------------------
def checkout_options(
    *, session: Session, settings: Settings, request: CheckoutRequest, now: datetime
) -> CheckoutOptionsRead:
    """The place/window pairs a shop may offer for this parcel, or exactly why there are none."""
    bookable_day(request.date, field="date", settings=settings, now=now)
    customer = parties.get_party(session=session, party_id=request.customer_id, role=Role.customer)
    reasons: list[RuleRead] = [
        RuleRead(code=v.code, message=v.message, field=v.field)
        for v in domain.parcel_violations(to_parcel(request.parcel), item_rules(settings))
    ]
    cars = vehicles.list_vehicles(session=session, owner=customer)
    saved = places.list_places(session=session, owner_id=customer.id)
    if not cars:
        reasons.append(RuleRead(code="no_vehicle", message="the customer has no linked car"))
    if not saved:
        reasons.append(RuleRead(code="no_place", message="the customer has saved no places"))
    slots = [
        s
        for s in domain.day_slots(
            request.date,
            tz=settings.timezone,
            start_hour=settings.service_day_start_hour,
            end_hour=settings.service_day_end_hour,
            slot_minutes=settings.window_slot_minutes,
        )
        if s.end > now
    ]
    if not slots:
        reasons.append(
            RuleRead(
                code="no_window_left",
                message=f"no delivery window is left on {request.date}",
                field="date",
            )
        )
    areas = dispatch.list_service_areas(session=session)
    covered: dict[str, str] = {}
    for place in saved:
        inside = dispatch.areas_covering(areas, place.latitude, place.longitude)
        if inside:
            covered[place.id] = inside[0].carrier_id
        else:
            reasons.append(
                RuleRead(
                    code="place_outside_service_area",
                    message=f"{place.label} is outside every carrier's service area",
                    place_id=place.id,
                )
            )
    options: list[CheckoutOption] = []
    parcel_ok = not domain.parcel_violations(to_parcel(request.parcel), item_rules(settings))
    for car in cars:
        blockers = vehicles.trunk_delivery_blockers(car)
        for blocker in blockers:
            reasons.append(
                RuleRead(
                    code=blocker,
                    message=f"car {car.plate}: {blocker.replace('_', ' ')}",
                    vehicle_id=car.id,
                )
            )
        too_big = domain.fits_trunk(to_parcel(request.parcel), car.trunk_volume_l)
        if too_big is not None:
            reasons.append(
                RuleRead(
                    code=too_big.code,
                    message=f"car {car.plate}: {too_big.message}",
                    field=too_big.field,
                    vehicle_id=car.id,
                )
            )
        if blockers or too_big is not None or not parcel_ok:
            continue
        for place in saved:
            if place.id not in covered:
                continue
            depot = next(
                (a.depot_latitude, a.depot_longitude)
                for a in areas
                if a.carrier_id == covered[place.id]
            )
            for slot in slots:
                if not reach.window_reachable(
                    depot=depot,
                    place=(place.latitude, place.longitude),
                    window_end=slot.end,
                    day_start_hour=settings.service_day_start_hour,
                    tz=settings.timezone,
                    now=now,
                ):
                    continue  # no van of the carrier gets there before the window closes
                options.append(
                    CheckoutOption(
                        vehicle_id=car.id,
                        place_id=place.id,
                        label=place.label,
                        address=place.address,
                        carrier_id=covered[place.id],
                        window_start=slot.start,
                        window_end=slot.end,
                    )
                )
    return CheckoutOptionsRead(
        trunk_possible=bool(options), options=options, reasons=[] if options else reasons
    )


# -- booking -------------------------------------------------------------------------------
def book(
    *,
    session: Session,
    settings: Settings,
    retailer: Party,
    delivery_in: DeliveryCreate,
    now: datetime,
) -> Delivery:
    customer = parties.get_party(
        session=session, party_id=delivery_in.customer_id, role=Role.customer
    )
    if delivery_in.vehicle_id is None:
        return _book_home(
            session=session,
            settings=settings,
            retailer=retailer,
            customer=customer,
            delivery_in=delivery_in,
            now=now,
        )
    if not delivery_in.itinerary:
        raise InvalidInput(
            "a trunk delivery needs at least one place and window", field="itinerary"
        )
    vehicle = vehicles.get_vehicle(session=session, vehicle_id=delivery_in.vehicle_id)
    if vehicle.owner_id != customer.id:
        raise InvalidInput("this car does not belong to this customer", field="vehicle_id")
    parcel = to_parcel(delivery_in.parcel)
    violations = domain.parcel_violations(parcel, item_rules(settings))
    fit = domain.fits_trunk(parcel, vehicle.trunk_volume_l)
    if fit is not None:
        violations.append(fit)
    if violations:
        first = violations[0]
        raise InvalidInput(
            "; ".join(v.message for v in violations),
            code=first.code,
            field=first.field,
            extra={"violations": [v.code for v in violations]},
        )
    blockers = vehicles.trunk_delivery_blockers(vehicle)
    if blockers:
        raise Conflict(
            f"this car cannot take trunk deliveries: {', '.join(blockers)}",
            code="vehicle_not_eligible",
            field="vehicle_id",
            extra={"blockers": blockers},
        )
    # Checked in time order; errors name each entry by its index in the request.
    order = sorted(
        range(len(delivery_in.itinerary)), key=lambda i: delivery_in.itinerary[i].window_start
    )
    entries = [delivery_in.itinerary[i] for i in order]
    windows = _checked_windows(entries, settings=settings, now=now, positions=order)
    areas = dispatch.list_service_areas(session=session)
    carriers: set[str] | None = None
    resolved = []
    for i, entry in enumerate(entries):
        place = places.get_place(session=session, place_id=entry.place_id, owner_id=customer.id)
        inside = {
            a.carrier_id for a in dispatch.areas_covering(areas, place.latitude, place.longitude)
        }
        if not inside:
            raise InvalidInput(
                f"{place.label} is outside every carrier's service area",
                code="place_outside_service_area",
                field=f"itinerary[{order[i]}].place_id",
            )
        carriers = inside if carriers is None else carriers & inside
        resolved.append((place, windows[i]))
    fb = delivery_in.fallback_address
    if fb is not None:
        inside = {a.carrier_id for a in dispatch.areas_covering(areas, fb.latitude, fb.longitude)}
        carriers = (carriers or set()) & inside
    if not carriers:
        raise InvalidInput(
            "no single carrier serves every place of this itinerary and the fallback address",
            code="no_carrier_for_itinerary",
            field="itinerary",
        )
    carrier_id = next(a.carrier_id for a in areas if a.carrier_id in carriers)
    door = _checked_door_window(
        delivery_in,
        day=windows[0].start.astimezone(ZoneInfo(settings.timezone)).date(),
        settings=settings,
        now=now,
    )
    delivery = Delivery(
        id=new_id("dlv"),
        retailer_id=retailer.id,
        customer_id=customer.id,
        carrier_id=carrier_id,
        vehicle_id=vehicle.id,
        service_date=windows[0].start.astimezone(ZoneInfo(settings.timezone)).date(),
        door_window_start=door[0],
        door_window_end=door[1],
        retailer_reference=delivery_in.retailer_reference,
        parcel_ref=delivery_in.parcel.reference,
        parcel=delivery_in.parcel.model_dump(),
        status=domain.DeliveryStatus.booked,
        mode="trunk",
        current_option=1,
        fallback_address=fb.address if fb else None,
        fallback_latitude=fb.latitude if fb else None,
        fallback_longitude=fb.longitude if fb else None,
        created_at=now,
    )
    _insert(session, delivery)
    for seq, (place, window) in enumerate(resolved, start=1):
        session.add(
            DeliveryOption(
                delivery_id=delivery.id,
                seq=seq,
                place_id=place.id,
                label=place.label,
                latitude=place.latitude,
                longitude=place.longitude,
                address=place.address,
                parking_notes=place.parking_notes,
                window_start=window.start,
                window_end=window.end,
            )
        )
    first_place, first_window = resolved[0]
    _announce_booking(
        session=session,
        delivery=delivery,
        now=now,
        text=f"booked into the trunk of {vehicle.plate} at {first_place.label}, "
        f"{local_time(first_window.start, settings)}–{local_time(first_window.end, settings)}",
    )
    return delivery


def _book_home(
    *,
    session: Session,
    settings: Settings,
    retailer: Party,
    customer: Party,
    delivery_in: DeliveryCreate,
    now: datetime,
) -> Delivery:
    """A delivery to the door, no car involved: the address and the day are all it needs."""
    address = delivery_in.fallback_address
    if address is None:
        raise InvalidInput("a delivery without a car needs an address", field="fallback_address")
    if delivery_in.itinerary:
        raise InvalidInput("an itinerary needs the car it belongs to", field="vehicle_id")
    if delivery_in.service_date is None:
        raise InvalidInput("a delivery without a car needs its day", field="service_date")
    if delivery_in.service_date < now.astimezone(ZoneInfo(settings.timezone)).date():
        raise InvalidInput("the day is already over", field="service_date", code="window_in_past")
    bookable_day(delivery_in.service_date, field="service_date", settings=settings, now=now)
    areas = dispatch.list_service_areas(session=session)
    inside = dispatch.areas_covering(areas, address.latitude, address.longitude)
    if not inside:
        raise InvalidInput(
            "the address is outside every carrier's service area",
            code="place_outside_service_area",
            field="fallback_address",
        )
    door = _checked_door_window(
        delivery_in, day=delivery_in.service_date, settings=settings, now=now
    )
    delivery = Delivery(
        id=new_id("dlv"),
        retailer_id=retailer.id,
        customer_id=customer.id,
        carrier_id=inside[0].carrier_id,
        door_window_start=door[0],
        door_window_end=door[1],
        vehicle_id=None,
        service_date=delivery_in.service_date,
        retailer_reference=delivery_in.retailer_reference,
        parcel_ref=delivery_in.parcel.reference,
        parcel=delivery_in.parcel.model_dump(),
        status=domain.DeliveryStatus.booked,
        mode="home",
        current_option=None,
        fallback_address=address.address,
        fallback_latitude=address.latitude,
        fallback_longitude=address.longitude,
        created_at=now,
    )
    _insert(session, delivery)
    _announce_booking(
        session=session,
        delivery=delivery,
        now=now,
        text=f"booked for delivery to {address.address} on {delivery_in.service_date}",
    )
    return delivery


def _insert(session: Session, delivery: Delivery) -> None:
    session.add(delivery)
    try:
        session.flush()
    except IntegrityError as e:
        raise Conflict(
            f"parcel {delivery.parcel_ref!r} is already booked",
            code="parcel_already_booked",
            field="parcel.reference",
        ) from e


def _announce_booking(*, session: Session, delivery: Delivery, text: str, now: datetime) -> None:
    """The timeline's first line, the parties' message and the audit entry of a booking."""
    add_timeline(session=session, delivery_id=delivery.id, kind="booked", now=now, text=text)
    notify.emit(
        session=session,
        topic="delivery.booked",
        recipient_ids=[delivery.retailer_id, delivery.carrier_id, delivery.customer_id],
        delivery_id=delivery.id,
        now=now,
        payload={"delivery_id": delivery.id, "status": "booked"},
    )
    audit.append(
        session=session,
        actor=delivery.retailer_id,
        action="delivery.booked",
        subject=delivery.id,
        now=now,
    )
    session.flush()


def _checked_door_window(
    delivery_in: DeliveryCreate, *, day: date, settings: Settings, now: datetime
) -> tuple[datetime | None, datetime | None]:
    window = delivery_in.door_window
    if window is None:
        return None, None
    if delivery_in.fallback_address is None:
        raise InvalidInput("a door window needs the address it is for", field="fallback_address")
    if window.end <= window.start:
        raise InvalidInput(
            "the window ends before it starts", field="door_window.end", code="window_inverted"
        )
    bookable_day(
        window.end.astimezone(UTC).date(), field="door_window.end", settings=settings, now=now
    )
    if (window.end - window.start).total_seconds() < 30 * 60:
        raise InvalidInput(
            "a window must be at least 30 minutes long",
            field="door_window.end",
            code="window_too_short",
        )
    hours = domain.service_hours(
        day,
        tz=settings.timezone,
        start_hour=settings.service_day_start_hour,
        end_hour=settings.service_day_end_hour,
    )
    if window.start < hours.start or window.end > hours.end:
        raise InvalidInput(
            "the door window must lie within the delivery day's service hours",
            field="door_window.start",
            code="window_outside_service_hours",
        )
    return window.start, window.end


def bookable_day(day: date, *, field: str, settings: Settings, now: datetime) -> None:
    """Bookings (and the checkout that offers them) reach only `booking_horizon_days` ahead:
    a far-off day is refused before any local-time arithmetic could overflow on it."""
    last = now.astimezone(UTC).date() + timedelta(days=settings.booking_horizon_days)
    if day > last:
        raise InvalidInput(
            f"bookings are taken up to {settings.booking_horizon_days} days ahead "
            f"(until {last.isoformat()})",
            field=field,
            code="beyond_booking_horizon",
        )


def _checked_windows(
    entries: Sequence[object], *, settings: Settings, now: datetime, positions: Sequence[int]
) -> list[domain.TimeWindow]:
    windows: list[domain.TimeWindow] = []
    day: date | None = None
    zone = ZoneInfo(settings.timezone)
    for i, entry in enumerate(entries):
        start, end = entry.window_start, entry.window_end  # type: ignore[attr-defined]
        field = f"itinerary[{positions[i]}]"
        if end <= start:
            raise InvalidInput(
                "the window ends before it starts",
                field=f"{field}.window_end",
                code="window_inverted",
            )
        if (end - start).total_seconds() < 30 * 60:
            raise InvalidInput(
                "a window must be at least 30 minutes long",
                field=f"{field}.window_end",
                code="window_too_short",
            )
        if end <= now:
            raise InvalidInput(
                "the window is already over", field=f"{field}.window_end", code="window_in_past"
            )
        bookable_day(
            start.astimezone(UTC).date(), field=f"{field}.window_start", settings=settings, now=now
        )
        local_day = start.astimezone(zone).date()
        day = day or local_day
        if local_day != day:
            raise InvalidInput(
                "every window of an itinerary must be on the same day",
                field=f"{field}.window_start",
                code="itinerary_spans_days",
            )
        hours = domain.service_hours(
            local_day,
            tz=settings.timezone,
            start_hour=settings.service_day_start_hour,
            end_hour=settings.service_day_end_hour,
        )
        if start < hours.start or end > hours.end:
            raise InvalidInput(
                f"windows must lie within service hours {settings.service_day_start_hour:02d}:00–"
                f"{settings.service_day_end_hour:02d}:00 local time",
                field=f"{field}.window_start",
                code="window_outside_service_hours",
            )
        window = domain.TimeWindow(start, end)
        if windows and windows[-1].overlaps(window):
            raise InvalidInput(
                "itinerary windows overlap: a car stands at one place at a time",
                field=f"{field}.window_start",
                code="windows_overlap",
            )
        windows.append(window)
    return windows


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


def cancel(*, session: Session, party: Party, delivery: Delivery, now: datetime) -> Delivery:
    if party.role not in (Role.retailer, Role.operator) or (
        party.role == Role.retailer and delivery.retailer_id != party.id
    ):
        raise Forbidden("only the retailer that booked it can cancel a delivery")
    try:
        delivery.status = domain.check_delivery_transition(
            delivery.status, domain.DeliveryStatus.cancelled
        )
    except domain.IllegalTransition as e:
        raise Conflict(
            f"a delivery that is {delivery.status} cannot be cancelled", code="illegal_transition"
        ) from e
    delivery.outcome, delivery.ended_at = "cancelled", now
    stop = dispatch.pending_stop_for(session=session, delivery_id=delivery.id)
    if stop is not None:
        dispatch.finish_stop(stop=stop, status="cancelled")
    add_timeline(
        session=session,
        delivery_id=delivery.id,
        kind="cancelled",
        text="cancelled by the shop",
        now=now,
    )
    notify.emit(
        session=session,
        topic="delivery.cancelled",
        recipient_ids=[delivery.retailer_id, delivery.carrier_id, delivery.customer_id],
        delivery_id=delivery.id,
        now=now,
        payload={"delivery_id": delivery.id, "status": "cancelled"},
    )
    audit.append(
        session=session, actor=party.id, action="delivery.cancelled", subject=delivery.id, now=now
    )
    session.flush()
    return delivery


def list_deliveries(
    *, session: Session, party: Party, status: str | None = None, limit: int = 500
) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id).limit(limit)
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
    return list(session.scalars(query))


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


# -- routes --------------------------------------------------------------------------------
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
        add_timeline(
            session=session,
            delivery_id=delivery.id,
            kind="planned",
            text=f"planned for {service_date.isoformat()}",
            now=now,
        )
    return route


def start_route(
    *, session: Session, settings: Settings, party: Party, route: Route, now: datetime
) -> Route:
    dispatch.check_route_access(party, route)
    dispatch.start_route(session=session, route=route, now=now)
    for stop in dispatch.stops_of(session=session, route_id=route.id):
        if stop.status != "pending":
            continue
        delivery = get_delivery(session=session, delivery_id=stop.delivery_id)
        if delivery.status == domain.DeliveryStatus.booked:
            delivery.status = domain.check_delivery_transition(
                delivery.status, domain.DeliveryStatus.out_for_delivery
            )
            add_timeline(
                session=session,
                delivery_id=delivery.id,
                kind="out_for_delivery",
                now=now,
                text="driver on the way — please don't move the car",
            )
            notify.emit(
                session=session,
                topic="delivery.out_for_delivery",
                recipient_ids=[delivery.retailer_id, delivery.customer_id],
                delivery_id=delivery.id,
                now=now,
                payload={
                    "delivery_id": delivery.id,
                    "status": delivery.status,
                    "message": "driver on the way — please don't move the car",
                },
            )
    session.flush()
    return route


def vehicle_for(*, session: Session, delivery: Delivery) -> Vehicle:
    vehicle = session.get(Vehicle, delivery.vehicle_id)
    if vehicle is None:  # pragma: no cover - foreign key
        raise NotFound("the delivery's vehicle is gone")
    return vehicle


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
            and vehicles.location_consented(car)
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
        return StopRead(
            id=stop.id,
            route_id=stop.route_id,
            seq=stop.seq,
            status=stop.status,
            mode=stop.mode,
            is_next=stop.id == next_id,
            delivery_id=delivery.id,
            parcel_ref=delivery.parcel_ref,
            label=where.label,
            address=where.address,
            latitude=where.latitude,
            longitude=where.longitude,
            parking_notes=where.parking_notes,
            window_start=where.window_start,
            window_end=where.window_end,
            eta=stop.eta,
            vehicle=brief,
            attempt_id=attempt_id,
        )
    return StopRead(
        id=stop.id,
        route_id=stop.route_id,
        seq=stop.seq,
        status=stop.status,
        mode=stop.mode,
        is_next=stop.id == next_id,
        delivery_id=delivery.id,
        parcel_ref=delivery.parcel_ref,
        label="fallback address",
        address=delivery.fallback_address or "",
        latitude=delivery.fallback_latitude or 0.0,
        longitude=delivery.fallback_longitude or 0.0,
        parking_notes="",
        window_start=None,
        window_end=None,
        eta=stop.eta,
        vehicle=None,
        attempt_id=attempt_id,
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
    # The next stop is the first pending one (stops_of is in route order).
    nxt = next((s for s in stops if s.status == "pending"), None)
    next_id = nxt.id if nxt is not None and route.status == "started" else None
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
        delivery = get_delivery(session=session, delivery_id=stop.delivery_id)
        if delivery.status == domain.DeliveryStatus.out_for_delivery:
            delivery.status = domain.check_delivery_transition(
                delivery.status, domain.DeliveryStatus.booked
            )
            delivery.outcome_reason = domain.Reason.not_reached
            add_timeline(
                session=session,
                delivery_id=delivery.id,
                kind="not_reached",
                now=now,
                text="not reached today; the parcel is back at the depot for another day",
            )
            notify.emit(
                session=session,
                topic="delivery.not_reached",
                recipient_ids=[delivery.retailer_id, delivery.customer_id],
                delivery_id=delivery.id,
                now=now,
                payload={"delivery_id": delivery.id, "reason": "not_reached"},
            )
    route.status = "finished"
    session.flush()
    return route
