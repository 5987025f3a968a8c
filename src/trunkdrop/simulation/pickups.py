"""The day's collections: about one customer in ten returns an order, one in twenty sends a
parcel or a letter; each books the pickup like a delivery and puts the item in the trunk.
A customer whose car cannot take it (no place reachable in time, the car or the item not
eligible), and every customer of the door strategy, books a pickup at the door instead."""

from __future__ import annotations

import random

from sqlalchemy.orm import Session

from trunkdrop.errors import DomainError
from trunkdrop.returns import service as returns
from trunkdrop.returns.schemas import DoorPickupCreate, ItemIn, PickupCreate, ReturnCreate
from trunkdrop.sends import service as sends
from trunkdrop.sends.schemas import RecipientIn, SendCreate
from trunkdrop.simulation.city import Customer, itinerary
from trunkdrop.simulation.day import SHIFT_END, SHIFT_START, SimulatedDay, chunks, moment_at, party
from trunkdrop.simulation.setup import reachable

RETURN_SHARE = 0.10
SEND_SHARE = 0.05


def book_pickups(day: SimulatedDay) -> None:
    """Book the day's returns and sends. Drawn from a generator of their own, so the
    deliveries booked before are the same with or without them."""
    rng = random.Random(day.config.seed * 104_729 + 19)
    for chunk in chunks(day.config.customers, 200):
        with day.platform.uow() as s:
            for cust in chunk:
                roll = rng.random()
                kind = (
                    "return"
                    if roll < RETURN_SHARE
                    else "send"
                    if roll < RETURN_SHARE + SEND_SHARE
                    else None
                )
                if kind is None:
                    continue
                item = ItemIn(
                    length_cm=rng.choice([20, 30, 40]),
                    width_cm=rng.choice([15, 20, 30]),
                    height_cm=rng.choice([5, 10, 15]),
                    weight_g=rng.randint(100, 4_000),
                    declared_value_cents=rng.randint(500, 10_000),
                )
                delivery_id = None
                if day.config.strategy != "home":
                    try:
                        with s.begin_nested():
                            delivery_id = _book_one(
                                day, s, cust, kind, item, _trunk_pickup(day, cust)
                            )
                    except DomainError:
                        delivery_id = None  # the car or the item is not eligible
                if delivery_id is None:
                    try:
                        with s.begin_nested():
                            delivery_id = _book_one(
                                day, s, cust, kind, item, _door_pickup(day, cust)
                            )
                    except DomainError:
                        continue  # not even at the door (outside every service area)
                if delivery_id is not None:
                    day.customer_of_delivery[delivery_id] = cust


def _trunk_pickup(day: SimulatedDay, cust: Customer) -> PickupCreate | None:
    """The car's places reachable in time (the longest one for trunk_fixed), or None."""
    now = day.clock.now()
    stays = [
        st
        for st in itinerary(cust, open_s=SHIFT_START, close_s=SHIFT_END)
        if reachable(day, st.point, st.end_s, now)
    ]
    if day.config.strategy == "trunk_fixed" and stays:
        stays = [max(stays, key=lambda st: st.end_s - st.start_s)]
    if not stays:
        return None
    return PickupCreate.model_validate(
        {
            "vehicle_id": day.car_of[cust.number][0],
            "itinerary": [
                {
                    "place_id": day.place_of[cust.number][st.point],
                    "window_start": moment_at(day.config.day, st.start_s),
                    "window_end": moment_at(day.config.day, st.end_s),
                }
                for st in stays
            ],
        }
    )


def _door_pickup(day: SimulatedDay, cust: Customer) -> DoorPickupCreate:
    """At home, in the longest stretch the customer is in (as a delivery's door window)."""
    body: dict[str, object] = {
        "address": {
            "address": f"home of customer {cust.number}",
            "latitude": cust.home[0],
            "longitude": cust.home[1],
        },
        "service_date": day.config.day,
    }
    at_home = [
        st for st in itinerary(cust, open_s=SHIFT_START, close_s=SHIFT_END) if st.label == "home"
    ]
    if at_home:
        longest = max(at_home, key=lambda st: st.end_s - st.start_s)
        body["door_window"] = {
            "start": moment_at(day.config.day, longest.start_s),
            "end": moment_at(day.config.day, longest.end_s),
        }
    return DoorPickupCreate.model_validate(body)


def _book_one(
    day: SimulatedDay,
    s: Session,
    cust: Customer,
    kind: str,
    item: ItemIn,
    pickup_in: PickupCreate | DoorPickupCreate | None,
) -> str | None:
    if pickup_in is None:
        return None
    now = day.clock.now()
    customer = party(s, day.party_of[cust.number])
    settings = day.platform.settings
    if kind == "return":
        authorised = returns.authorise(
            session=s,
            retailer=party(s, day.shop_id),
            return_in=ReturnCreate(
                customer_id=customer.id,
                order_ref=f"ORD-{cust.number}",
                reason="does not fit",
                parcel=item,
            ),
            now=now,
        )
        returns.book_pickup(
            session=s,
            settings=settings,
            customer=customer,
            return_id=authorised.id,
            pickup_in=pickup_in,
            now=now,
        )
        ready = returns.confirm_ready(
            session=s, customer=customer, return_id=authorised.id, now=now
        )
        return ready.delivery_id
    send = sends.buy(
        session=s,
        settings=settings,
        payments=day.platform.payments,
        customer=customer,
        send_in=SendCreate(
            kind="parcel",
            parcel=item,
            recipient=RecipientIn(name="Grandma", address=f"far from customer {cust.number}"),
        ),
        now=now,
    )
    sends.book_pickup(
        session=s,
        settings=settings,
        customer=customer,
        send_id=send.id,
        pickup_in=pickup_in,
        now=now,
    )
    return sends.confirm_ready(session=s, customer=customer, send_id=send.id, now=now).delivery_id
