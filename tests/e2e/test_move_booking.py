"""Moving a booking: its customer, or its shop with consent, gives it other windows or
places while it is booked, checked as a booking is; shop and carrier learn of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from httpx import Response
from sqlalchemy import select

from tests.support import World
from trunkdrop.events.models import LoggedEvent


def _move(
    world: World, who: str, delivery: dict[str, Any], itinerary: list[Any], customer: str = ""
) -> Response:
    body = {"itinerary": [
        {"place_id": place["id"], "window_start": world.at(a).isoformat(),
         "window_end": world.at(b).isoformat()} for place, a, b in itinerary
    ]}  # fmt: skip
    headers = world.auth(who, customer or None)
    return world.client.patch(f"/v1/deliveries/{delivery['id']}", json=body, headers=headers)


def _starts(delivery: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(delivery["itinerary"][0]["window_start"])


def test_the_customer_moves_a_booking_and_shop_and_carrier_are_told(world: World) -> None:
    """anna moves her 10–12 office booking to home 14–16: the itinerary is the new one, the
    timeline says so, and `delivery.moved` reaches the shop's and the carrier's feeds."""
    vehicle, office, home = world.link_car(), world.add_place(), world.add_place(label="home")
    delivery = world.book(vehicle, [(office, 10, 12)])

    moved = world.ok(_move(world, "anna", delivery, [(home, 14, 16)]))

    [entry] = moved["itinerary"]
    assert entry["place_id"] == home["id"] and _starts(moved) == world.at(14)
    assert moved["timeline"][-1]["kind"] == "moved"
    # Read from the log itself: the feed on a shared PostgreSQL may hold back fresh events
    # while other databases' transactions run.
    with world.platform.uow() as session:
        [logged] = session.scalars(
            select(LoggedEvent).where(
                LoggedEvent.kind == "delivery.moved", LoggedEvent.delivery_id == delivery["id"]
            )
        )
        assert {world.ids["shop"], world.ids["carrier"]} <= set(logged.party_ids)


def test_the_shop_moves_a_booking_only_with_consent(world: World) -> None:
    """The shop moves anna's booking with her consent; after she revokes it, 403
    `consent_missing`; ben, not her customer, gets 403 too."""
    vehicle, office = world.link_car(), world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])

    world.ok(_move(world, "shop", delivery, [(office, 13, 15)], customer="anna"))
    [consent] = world.ok(world.get("anna", "/v1/me/consents"))["data"]
    world.ok(world.delete("anna", f"/v1/me/consents/{consent['id']}"))
    refused = _move(world, "shop", delivery, [(office, 14, 16)], customer="anna")

    assert refused.status_code == 403 and refused.json()["code"] == "consent_missing"
    assert _move(world, "ben", delivery, [(office, 14, 16)]).status_code == 403
    kept = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert _starts(kept) == world.at(13)


def test_a_move_is_checked_as_a_booking_and_refused_once_planned(world: World) -> None:
    """A window already over is refused (422 `window_in_past`), ben's place is not found;
    once the delivery is on a route, 409 `delivery_not_movable`, and the booking is as it was."""
    vehicle, office = world.link_car(), world.add_place()
    bens = world.add_place("ben", label="ben's")
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.clock.set(world.at(9))

    past = _move(world, "anna", delivery, [(office, 7, 8)])
    assert past.status_code == 422 and past.json()["code"] == "window_in_past"
    assert _move(world, "anna", delivery, [(bens, 13, 15)]).status_code == 404
    world.route(delivery, start=False)
    planned = _move(world, "anna", delivery, [(office, 13, 15)])

    assert planned.status_code == 409 and planned.json()["code"] == "delivery_not_movable"
    kept = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert _starts(kept) == world.at(10)
