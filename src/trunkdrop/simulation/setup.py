"""Setting the day up: the shop, the carrier and its depot, the customers with their cars and
places, and every parcel booked at checkout."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.schemas import DeliveryCreate
from trunkdrop.dispatch import reach
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.schemas import ServiceAreaCreate
from trunkdrop.errors import DomainError
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party
from trunkdrop.pickup_points import service as pickup_points
from trunkdrop.pickup_points.domain import WEEKDAYS
from trunkdrop.pickup_points.schemas import PickupPointCreate
from trunkdrop.places import service as places
from trunkdrop.places.schemas import PlaceCreate
from trunkdrop.simulation.city import (
    DEPOT,
    DISTRICTS,
    MUNICH_CENTRE,
    Customer,
    Point,
    itinerary,
)
from trunkdrop.simulation.day import (
    SHIFT_END,
    SHIFT_START,
    LinkedCar,
    SimulatedDay,
    chunks,
    moment_at,
    party,
)
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.schemas import VehicleLink


def set_up(day: SimulatedDay) -> None:
    now = day.clock.now()
    with day.platform.uow() as s:
        day.shop_id = parties.create_party(
            session=s, role="retailer", name="Isar Outfitters", now=now
        ).id
        carrier = parties.create_party(session=s, role="carrier", name="Bavaria Parcel", now=now)
        day.carrier_id = carrier.id
        dispatch.create_service_area(
            session=s,
            carrier=carrier,
            now=now,
            area_in=ServiceAreaCreate(
                name="Munich",
                latitude=MUNICH_CENTRE[0],
                longitude=MUNICH_CENTRE[1],
                radius_m=25_000,
                depot_latitude=DEPOT[0],
                depot_longitude=DEPOT[1],
            ),
        )
        _add_pickup_points(s, carrier, now)
    for chunk in chunks(day.config.customers, 250):
        with day.platform.uow() as s:
            for cust in chunk:
                _add_customer(day, s, cust, now)
    day.progress("customers linked their cars", 0.05)


# One pickup point per district, at its centre: every other one a parcel locker (open
# around the clock, smaller), the rest a shop's counter (Monday to Saturday, 08–20).
LOCKER_HOURS = {d: [{"opens": "00:00", "closes": "24:00"}] for d in WEEKDAYS}
COUNTER_HOURS = {d: [{"opens": "08:00", "closes": "20:00"}] for d in WEEKDAYS[:6]}


def _add_pickup_points(s: Session, carrier: Party, now: datetime) -> None:
    for n, (district, centre, _) in enumerate(DISTRICTS):
        locker = n % 2 == 0
        pickup_points.create_point(
            session=s,
            carrier=carrier,
            now=now,
            point_in=PickupPointCreate.model_validate(
                {
                    "name": f"{'Locker' if locker else 'Kiosk'} {district}",
                    "kind": "locker" if locker else "point",
                    "address": f"{district} centre",
                    "latitude": centre[0],
                    "longitude": centre[1],
                    "opening_hours": LOCKER_HOURS if locker else COUNTER_HOURS,
                    "capacity": 40 if locker else 60,
                }
            ),
        )


def _add_customer(day: SimulatedDay, s: Session, cust: Customer, now: datetime) -> None:
    party = parties.create_party(
        session=s, role="customer", name=f"Customer {cust.number}", now=now
    )
    cust.extras["party"] = 0.0
    day.party_of[cust.number] = party.id
    external = f"MUC{cust.number:010d}"
    car = vehicles.link_vehicle(
        session=s,
        registry=day.platform.registry,
        owner=party,
        now=now,
        vehicle_in=VehicleLink(
            brand=cust.brand,
            external_id=external,
            make=cust.brand.split("-")[1].title(),
            model="Compact",
            year=2022,
            plate=f"M-{cust.number % 100:02d} {cust.number}",
            colour="grey",
            trunk_volume_l=380,
        ),
    )
    day.car_of[cust.number] = LinkedCar(car.id, cust.brand, external)
    seen: dict[Point, str] = {}
    for stay in cust.day:
        if stay.point not in seen:
            seen[stay.point] = places.create_place(
                session=s,
                owner=party,
                now=now,
                place_in=PlaceCreate(
                    label=stay.label,
                    latitude=stay.point[0],
                    longitude=stay.point[1],
                    address=f"{stay.label} of customer {cust.number}",
                    is_home=stay.label == "home",
                ),
            ).id
    day.place_of[cust.number] = seen


def book(day: SimulatedDay) -> None:
    for n, chunk in enumerate(chunks(day.config.customers, 200)):
        with day.platform.uow() as s:
            shop = party(s, day.shop_id)
            for cust in chunk:
                delivery_id = _book_one(day, s, shop, cust)
                day.customer_of_delivery[delivery_id] = cust
        day.progress(
            "shops booked at checkout",
            0.05 + 0.1 * (n + 1) * 200 / max(1, len(day.config.customers)),
        )


def _book_one(day: SimulatedDay, s: Session, shop: Party, cust: Customer) -> str:
    now = day.clock.now()
    dims = day.rng.choice([(30, 20, 10), (40, 30, 20), (35, 25, 15), (60, 40, 40), (20, 15, 10)])
    parcel = {
        "reference": f"PCL{day.config.seed:04d}{cust.number:07d}",
        "length_cm": dims[0],
        "width_cm": dims[1],
        "height_cm": dims[2],
        "weight_g": day.rng.randint(200, 12_000),
        "declared_value_cents": day.rng.randint(500, 40_000),
    }
    base: dict[str, object] = {
        "customer_id": day.party_of[cust.number],
        "retailer_reference": f"ORD-{cust.number}",
        "parcel": parcel,
        "fallback_address": {
            "address": f"home of customer {cust.number}",
            "latitude": cust.home[0],
            "longitude": cust.home[1],
        },
    }
    if day.config.strategy != "home":
        # The customer told trunkdrop the car's day, so the platform also knows when they are home.
        at_home = [
            st
            for st in itinerary(cust, open_s=SHIFT_START, close_s=SHIFT_END)
            if st.label == "home"
        ]
        if at_home:
            longest = max(at_home, key=lambda st: st.end_s - st.start_s)
            base["door_window"] = {
                "start": moment_at(day.config.day, longest.start_s),
                "end": moment_at(day.config.day, longest.end_s),
            }
        stays = [
            st
            for st in itinerary(cust, open_s=SHIFT_START, close_s=SHIFT_END)
            if reachable(day, st.point, st.end_s, now)
        ]
        if day.config.strategy == "trunk_fixed" and stays:
            stays = [max(stays, key=lambda st: st.end_s - st.start_s)]
        if stays:
            body = {**base, "vehicle_id": day.car_of[cust.number][0], "itinerary": [
                {"place_id": day.place_of[cust.number][st.point], "window_start": moment_at(day.config.day, st.start_s),
                 "window_end": moment_at(day.config.day, st.end_s)} for st in stays]}  # fmt: skip
            try:
                with s.begin_nested():
                    return deliveries.book(
                        session=s,
                        settings=day.platform.settings,
                        retailer=shop,
                        now=now,
                        delivery_in=DeliveryCreate.model_validate(body),
                    ).id
            except DomainError:
                pass  # not eligible for the trunk (car, parcel): the door it is
    body = {**base, "service_date": day.config.day}
    return deliveries.book(
        session=s,
        settings=day.platform.settings,
        retailer=shop,
        now=now,
        delivery_in=DeliveryCreate.model_validate(body),
    ).id


def reachable(day: SimulatedDay, point: Point, end_s: int, now: datetime) -> bool:
    """Whether any van from the depot can reach `point` before a window ending at `end_s`
    closes: checkout offers no other (`dispatch.reach`), so the customer never picks one,
    and a place no plan can serve would only leave the parcel unplanned."""
    settings = day.platform.settings
    return reach.window_reachable(
        depot=DEPOT,
        place=point,
        window_end=moment_at(day.config.day, end_s),
        day_start_hour=settings.service_day_start_hour,
        tz=settings.timezone,
        now=now,
    )
