"""Pickups at the door for customers without an eligible car: a return booked with an
address instead of a car, handed over at the door, or not collected when nobody opens."""

from __future__ import annotations

from typing import Any

from tests.support import HOME, World


def _door_pickup(world: World, who: str = "anna") -> dict[str, Any]:
    authorised = world.authorise_return(who)
    body = {
        "address": {"address": "Schellingstr. 10", "latitude": HOME[0], "longitude": HOME[1]},
        "service_date": world.at(0).date().isoformat(),
        "door_window": {"start": world.at(17).isoformat(), "end": world.at(19).isoformat()},
    }
    booked = world.ok(world.post(who, f"/v1/returns/{authorised['id']}/door-pickup", body), 201)
    read: dict[str, Any] = world.ok(world.get(who, f"/v1/deliveries/{booked['delivery_id']}"))
    return read


def _at_the_door(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    pickup = _door_pickup(world)
    world.route(pickup)
    world.until(world.at(17, 10))
    stop = world.next_stop()
    return pickup, world.ok(world.start_attempt(stop), 201)


def test_a_return_is_collected_at_the_door(world: World) -> None:
    """Booked with an address and no car: a door stop that loads a pickup; handed over at
    the door it is collected, outcome collected_door, and the shop sees it collected."""
    pickup, attempt = _at_the_door(world)
    assert (pickup["purpose"], pickup["mode"], pickup["vehicle_id"]) == ("return", "home", None)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/handover"))
    read = world.ok(world.get("shop", f"/v1/deliveries/{pickup['id']}"))
    assert (read["status"], read["outcome"]) == ("collected", "collected_door")
    assert "collected" in [t["kind"] for t in read["timeline"]]


def test_nobody_at_the_door_leaves_the_return_not_collected(world: World) -> None:
    """Nobody opens: the pickup ends not collected (never at a pickup point: the parcel is
    still with the customer)."""
    pickup, attempt = _at_the_door(world)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/fail", {"reason": "nobody_home"}))
    read = world.ok(world.get("anna", f"/v1/deliveries/{pickup['id']}"))
    assert (read["status"], read["outcome_reason"]) == ("not_collected", "nobody_home")


def test_a_door_pickup_needs_the_address_and_the_day(world: World) -> None:
    """An empty door pickup is a 422 naming the address; a trunk pickup still needs its car."""
    authorised = world.authorise_return()
    door = world.post("anna", f"/v1/returns/{authorised['id']}/door-pickup", {})
    assert (door.status_code, door.json()["field"]) == (422, "address")
    trunk = world.post("anna", f"/v1/returns/{authorised['id']}/pickup", {})
    assert trunk.status_code == 422
