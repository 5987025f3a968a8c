"""Who sees what: deliveries only by the parties in them, a car's position only while a stop
still goes to it, in its window, with the owner's consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import HOME, OFFICE, World
from trunkdrop.api.app import create_app
from trunkdrop.bootstrap import bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.dispatch import service as dispatch
from trunkdrop.vehicles.models import VehicleEvent


def position(car: dict[str, Any], event_id: str, where: tuple[float, float], at: datetime) -> Any:
    return {
        "event_id": event_id,
        "vehicle_id": car["external_id"],
        "type": "position",
        "occurred_at": at.isoformat(),
        "latitude": where[0],
        "longitude": where[1],
    }


def test_a_car_maker_lists_no_deliveries(world: World) -> None:
    """A car maker's key gets 403 on the list of deliveries (it named no role there and used
    to see every delivery, addresses included)."""
    world.ready_at_car()
    response = world.get("aurora-cloud", "/v1/deliveries")
    assert response.status_code == 403, response.text


def test_no_car_position_once_the_delivery_is_done(world: World) -> None:
    """After the trunk delivery is done, the car's next position (the owner driving home,
    still inside the window) is not shown on the driver's stops."""
    vehicle, delivery, attempt = world.ready_at_car()
    world.deliver_into_trunk(vehicle, attempt)
    assert world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))["status"] == "delivered"
    world.clock.set(world.at(10, 40))
    event = position(vehicle, "e1", HOME, world.clock.now())
    world.ok(world.post("aurora-cloud", "/v1/vehicle-events", event), 202)
    [stop] = world.ok(world.get("driver", "/v1/stops"))["data"]
    assert stop["status"] == "done" and stop["vehicle"]["latitude"] is None


def test_no_car_position_for_a_cancelled_stop(world: World) -> None:
    """A cancelled delivery's stop shows the carrier no position, even inside its window."""
    vehicle = world.link_car()
    delivery = world.book(vehicle, [(world.add_place(), 10, 12)])
    world.route(delivery, start=False)
    world.ok(world.post("shop", f"/v1/deliveries/{delivery['id']}/cancel"))
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 30))
    event = position(vehicle, "e1", HOME, world.clock.now())
    world.ok(world.post("aurora-cloud", "/v1/vehicle-events", event), 202)
    [stop] = world.ok(world.get("carrier", "/v1/stops"))["data"]
    assert stop["vehicle"]["latitude"] is None


def test_a_driver_taken_off_a_delivery_no_longer_sees_it(world: World) -> None:
    """The carrier closes the driver's route and gives the delivery to another driver: the
    first no longer reads the delivery (403) nor the car's position."""
    vehicle = world.link_car()
    delivery = world.book(vehicle, [(world.add_place(), 10, 12)])
    first = world.route(delivery)
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 5))
    world.ok(world.post("carrier", f"/v1/routes/{first['id']}/close"))
    world.route(delivery, driver="driver2")
    world.ok(world.start_attempt(world.next_stop("driver2"), driver="driver2"), 201)
    world.clock.set(world.at(10, 20))
    event = position(vehicle, "e1", (OFFICE[0] + 0.001, OFFICE[1]), world.clock.now())
    world.ok(world.post("aurora-cloud", "/v1/vehicle-events", event), 202)
    assert world.get("driver", f"/v1/deliveries/{delivery['id']}").status_code == 403
    assert all(
        s["vehicle"]["latitude"] is None for s in world.ok(world.get("driver", "/v1/stops"))["data"]
    )
    assert (
        world.ok(world.get("driver2", f"/v1/deliveries/{delivery['id']}"))["id"] == delivery["id"]
    )


def test_no_position_kept_or_shown_after_consent_is_withdrawn(world: World) -> None:
    """After the owner withdraws consent, a position the car maker still reports is neither
    kept (not even in the event log) nor shown to the driver."""
    vehicle, _, _ = world.at_the_stop()
    world.ok(world.delete("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    world.clock.set(world.at(10, 40))
    event = position(vehicle, "e1", HOME, world.clock.now())
    world.ok(world.post("aurora-cloud", "/v1/vehicle-events", event), 202)
    assert world.ok(world.get("anna", f"/v1/vehicles/{vehicle['id']}"))["latitude"] is None
    assert all(
        s["vehicle"]["latitude"] is None for s in world.ok(world.get("driver", "/v1/stops"))["data"]
    )
    with world.platform.uow() as s:
        data = s.scalars(select(VehicleEvent.data).where(VehicleEvent.event_id == "e1")).one()
    assert "latitude" not in data and "longitude" not in data


def test_simulator_controls_after_a_restart_are_not_a_500(
    world: World, settings: Settings, clock: ManualClock
) -> None:
    """The simulated cars live in memory: after a restart the operator's controls simulate a
    linked car afresh instead of failing with a 500."""
    vehicle = world.link_car()
    restarted = bootstrap(settings, clock=clock, migrate=False)
    try:
        with TestClient(create_app(restarted, run_workers=False)) as client:
            response = client.post(
                f"/v1/sim/vehicles/{vehicle['id']}",
                headers=world.auth("operator"),
                json={"action": "close_trunk"},
            )
    finally:
        restarted.close()
    assert response.status_code == 200, response.text


def test_a_booked_stop_on_a_started_route_shows_its_car(world: World) -> None:
    """A delivery still booked on a started route (a carrier's re-plan could put one there
    before vans on the road kept their own parcels) shows the driver its car's position in
    the window, as any stop to make."""
    car1, car2 = world.link_car(), world.link_car(who="ben")
    nearby = (OFFICE[0] + 0.0005, OFFICE[1])
    d1 = world.book(car1, [(world.add_place(), 10, 12)])
    d2 = world.book(car2, [(world.add_place(who="ben", where=nearby), 10, 12)], who="ben")
    started = world.route(d1)
    world.route(d2, driver="driver2", start=False)
    with world.platform.uow() as s:
        stop = dispatch.pending_stop_for(session=s, delivery_id=d2["id"])
        assert stop is not None
        stop.route_id, stop.seq = started["id"], 99
    world.park(car1, OFFICE)
    world.park(car2, nearby)
    world.until(world.at(10, 5))
    route = world.ok(world.get("carrier", f"/v1/routes/{started['id']}"))
    shown = {s["delivery_id"]: s["vehicle"]["latitude"] for s in route["stops"]}
    assert world.ok(world.get("ben", f"/v1/deliveries/{d2['id']}"))["status"] == "booked"
    assert shown[d2["id"]] == nearby[0]


def test_a_car_away_from_the_booked_place_is_shown_as_not_there(world: World) -> None:
    """In the window, a car 5 km from the booked place shows no position (at_place false) to
    the driver and the carrier; parked at the place, it shows where it stands."""
    vehicle, _, stop = world.at_the_stop()
    assert stop["vehicle"]["at_place"] is True
    assert stop["vehicle"]["latitude"] == pytest.approx(OFFICE[0])
    world.clock.advance(5)
    world.park(vehicle, (OFFICE[0] + 0.045, OFFICE[1]))  # ~5 km north
    for who in ("driver", "carrier"):
        shown = next(
            s for s in world.ok(world.get(who, "/v1/stops"))["data"] if s["id"] == stop["id"]
        )
        assert shown["vehicle"]["at_place"] is False
        assert shown["vehicle"]["latitude"] is None and shown["vehicle"]["longitude"] is None


def test_a_driver_sees_only_the_place_of_their_stop(world: World) -> None:
    """A trunk stop's driver reads the delivery with that stop's place only: not the rest
    of the itinerary, not the home address; the shop still sees all of it."""
    vehicle = world.link_car()
    office = world.add_place()
    home = world.add_place(label="home", where=HOME)
    delivery = world.book(vehicle, [(office, 10, 12), (home, 14, 16)])
    world.route(delivery)
    read = world.ok(world.get("driver", f"/v1/deliveries/{delivery['id']}"))
    assert [o["place_id"] for o in read["itinerary"]] == [office["id"]]
    assert read["fallback_address"] is None
    listed = next(
        d
        for d in world.ok(world.get("driver", "/v1/deliveries"))["data"]
        if d["id"] == delivery["id"]
    )
    assert [o["place_id"] for o in listed["itinerary"]] == [office["id"]]
    shop = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert len(shop["itinerary"]) == 2 and shop["fallback_address"]


def test_service_areas_are_shown_by_role(world: World) -> None:
    """A carrier lists its own areas with depots, not another carrier's; a shop and a
    customer see every area's coverage without depots; an operator sees all; a car maker
    none."""
    world.ok(
        world.post(
            "other-carrier",
            "/v1/service-areas",
            {
                "name": "Augsburg",
                "latitude": 48.37,
                "longitude": 10.89,
                "radius_m": 10_000,
                "depot_latitude": 48.35,
                "depot_longitude": 10.9,
            },
        ),
        201,
    )
    own = world.ok(world.get("carrier", "/v1/service-areas"))["data"]
    assert {a["carrier_id"] for a in own} == {world.ids["carrier"]}
    assert all(a["depot_latitude"] is not None for a in own)
    for who in ("shop", "anna"):
        seen = world.ok(world.get(who, "/v1/service-areas"))["data"]
        assert {a["name"] for a in seen} >= {"Munich", "Augsburg"}
        assert all(a["depot_latitude"] is None and a["depot_longitude"] is None for a in seen)
    everything = world.ok(world.get("operator", "/v1/service-areas"))["data"]
    assert len(everything) == len(world.ok(world.get("shop", "/v1/service-areas"))["data"])
    assert all(a["depot_latitude"] is not None for a in everything)
    assert world.get("aurora-cloud", "/v1/service-areas").status_code == 403
