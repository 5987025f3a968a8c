"""Checkout options, booking and cancelling deliveries (reading them back: `lookups`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, lookups
from trunkdrop.deliveries.models import Delivery, DeliveryOption
from trunkdrop.deliveries.schemas import (
    CheckoutOption,
    CheckoutOptionsRead,
    CheckoutRequest,
    DeliveryCreate,
    ItineraryEntryIn,
    ParcelIn,
    RuleRead,
)
from trunkdrop.dispatch import reach
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import ServiceArea
from trunkdrop.errors import Conflict, Forbidden, InvalidInput
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party, Role
from trunkdrop.places import service as places
from trunkdrop.places.models import Place
from trunkdrop.store.base import new_id
from trunkdrop.vehicles import service as vehicles


def item_rules(settings: Settings) -> domain.ItemRules:
    return domain.ItemRules(
        max_weight_g=settings.max_weight_g,
        max_dims_cm=(settings.max_length_cm, settings.max_width_cm, settings.max_height_cm),
        max_declared_value_cents=settings.max_declared_value_cents,
    )


def to_parcel(parcel_in: ParcelIn) -> domain.Parcel:
    return domain.Parcel(**parcel_in.model_dump(exclude={"reference"}))


def local_time(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%H:%M")


# -- checkout ------------------------------------------------------------------------------
def option_id(vehicle_id: str, place_id: str, start: datetime, end: datetime) -> str:
    """The same id for the same car, place and window, whenever the options are asked for."""
    facts = f"{vehicle_id}|{place_id}|{start.astimezone(UTC).isoformat()}|{end.astimezone(UTC).isoformat()}"
    return "opt_" + hashlib.sha256(facts.encode()).hexdigest()[:20]


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
    lapsing: set[str] = set()
    for car in cars:
        blockers = vehicles.trunk_delivery_blockers(car, now=now)
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
                if not vehicles.consent_lasts(car, until=slot.end):
                    lapsing.add(car.id)
                    continue  # the car maker's consent ends before this window does
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
                        id=option_id(car.id, place.id, slot.start, slot.end),
                        vehicle_id=car.id,
                        place_id=place.id,
                        label=place.label,
                        address=place.address,
                        carrier_id=covered[place.id],
                        window_start=slot.start,
                        window_end=slot.end,
                    )
                )
    reasons += [
        RuleRead(
            code="consent_ends_before_window",
            message="the owner's consent at the car maker ends before this day's windows; "
            "the owner renews it first",
            vehicle_id=car.id,
        )
        for car in cars
        if car.id in lapsing and not any(o.vehicle_id == car.id for o in options)
    ]
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
    purpose: domain.Purpose = domain.Purpose.delivery,
    label_code: str | None = None,
) -> Delivery:
    """Book a parcel into the customer's trunk (or to the door without a car). A pickup
    (`purpose` return or send) is booked by the same rules: its parcel must fit the trunk
    and the van, the car must be eligible, the places served, the windows sound."""
    customer = parties.get_party(
        session=session, party_id=delivery_in.customer_id, role=Role.customer
    )
    if delivery_in.vehicle_id is None:
        # To the door, or a pickup at the door for a customer without an eligible car.
        return _book_home(
            session=session,
            settings=settings,
            retailer=retailer,
            customer=customer,
            delivery_in=delivery_in,
            now=now,
            purpose=purpose,
            label_code=label_code,
        )
    if not delivery_in.itinerary:
        raise InvalidInput(
            "a trunk delivery needs at least one place and window", field="itinerary"
        )
    vehicle = vehicles.get_customers_vehicle(
        session=session, vehicle_id=delivery_in.vehicle_id, customer_id=customer.id
    )
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
    blockers = vehicles.trunk_delivery_blockers(vehicle, now=now)
    if blockers:
        raise Conflict(
            f"this car cannot take trunk deliveries: {', '.join(blockers)}",
            code="vehicle_not_eligible",
            field="vehicle_id",
            extra={"blockers": blockers},
        )
    resolved, carriers, areas = checked_itinerary(
        session=session,
        settings=settings,
        customer_id=customer.id,
        itinerary=delivery_in.itinerary,
        now=now,
    )
    windows = [window for _, window in resolved]
    vehicles.check_consent_lasts(vehicle, until=max(w.end for w in windows))
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
        purpose=purpose,
        label_code=label_code,
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
        text=("pickup booked from" if domain.is_pickup(purpose) else "booked into")
        + f" the trunk of {vehicle.plate} at {first_place.label}, "
        f"{local_time(first_window.start, settings)}–{local_time(first_window.end, settings)}",
    )
    return delivery


def checked_itinerary(
    *,
    session: Session,
    settings: Settings,
    customer_id: str,
    itinerary: Sequence[ItineraryEntryIn],
    now: datetime,
) -> tuple[list[tuple[Place, domain.TimeWindow]], set[str] | None, list[ServiceArea]]:
    """The itinerary's places and windows in time order, checked as a booking checks them;
    the carriers that serve every place, and the service areas."""
    # Checked in time order; errors name each entry by its index in the request.
    order = sorted(range(len(itinerary)), key=lambda i: itinerary[i].window_start)
    entries = [itinerary[i] for i in order]
    windows = _checked_windows(entries, settings=settings, now=now, positions=order)
    areas = dispatch.list_service_areas(session=session)
    carriers: set[str] | None = None
    resolved = []
    for i, entry in enumerate(entries):
        place = places.get_customers_place(
            session=session,
            place_id=entry.place_id,
            customer_id=customer_id,
            field=f"itinerary[{order[i]}].place_id",
        )
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
    return resolved, carriers, areas


def _book_home(
    *,
    session: Session,
    settings: Settings,
    retailer: Party,
    customer: Party,
    delivery_in: DeliveryCreate,
    now: datetime,
    purpose: domain.Purpose = domain.Purpose.delivery,
    label_code: str | None = None,
) -> Delivery:
    """A delivery to the door, no car involved: the address and the day are all it needs.
    A pickup at the door the same: the driver takes the labelled parcel from the customer."""
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
        purpose=purpose,
        label_code=label_code,
        created_at=now,
    )
    _insert(session, delivery)
    what = "pickup at" if domain.is_pickup(purpose) else "delivery to"
    _announce_booking(
        session=session,
        delivery=delivery,
        now=now,
        text=f"booked for {what} {address.address} on {delivery_in.service_date}",
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
    events.record(
        session=session,
        event=Event(
            kind="delivery.booked",
            at=now,
            subject=delivery.id,
            actor=delivery.retailer_id,
            delivery_id=delivery.id,
            facts={"status": "booked"},
            text=text,
            parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
        ),
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
    if window.end - window.start < domain.MIN_WINDOW:
        raise InvalidInput(
            f"a window must be at least {domain.MIN_WINDOW // timedelta(minutes=1)} minutes long",
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
        if end - start < domain.MIN_WINDOW:
            raise InvalidInput(
                f"a window must be at least {domain.MIN_WINDOW // timedelta(minutes=1)} minutes long",
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


def mark_parcel_ready(*, session: Session, delivery_id: str, now: datetime) -> Delivery:
    """A pickup's parcel is in the trunk, by its customer's word (a return or a send)."""
    delivery = lookups.get_delivery(session=session, delivery_id=delivery_id)
    if delivery.status not in (
        domain.DeliveryStatus.booked,
        domain.DeliveryStatus.out_for_delivery,
    ):
        raise Conflict(f"the pickup is {delivery.status}", code="illegal_transition")
    if delivery.parcel_ready_at is None:
        delivery.parcel_ready_at = now
        events.record(
            session=session,
            event=Event(
                kind="pickup.parcel_ready",
                at=now,
                subject=delivery.id,
                actor=delivery.customer_id,
                delivery_id=delivery.id,
                facts={"tracking_number": delivery.parcel_ref},
                text="the customer put the parcel in the trunk",
                parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
            ),
        )
        session.flush()
    return delivery


def cancel(*, session: Session, party: Party, delivery: Delivery, now: datetime) -> Delivery:
    if party.role not in (Role.retailer, Role.operator) or (
        party.role == Role.retailer and delivery.retailer_id != party.id
    ):
        raise Forbidden("only the retailer that booked it can cancel a delivery")
    return _cancel(
        session=session, actor=party.id, delivery=delivery, text="cancelled by the shop", now=now
    )


def cancel_for_erasure(*, session: Session, delivery: Delivery, now: datetime) -> Delivery:
    """The customer erased their data: a booking of theirs is cancelled by the shop's own
    path, so the shop and the carrier learn of it as of any cancellation."""
    return _cancel(
        session=session,
        actor=delivery.customer_id,
        delivery=delivery,
        text="cancelled: the customer erased their data",
        now=now,
    )


def _cancel(
    *, session: Session, actor: str, delivery: Delivery, text: str, now: datetime
) -> Delivery:
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
    events.record(
        session=session,
        event=Event(
            kind="delivery.cancelled",
            at=now,
            subject=delivery.id,
            actor=actor,
            delivery_id=delivery.id,
            facts={"status": "cancelled"},
            text=text,
            parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
        ),
    )
    session.flush()
    return delivery
