"""A car's report cannot claim a time after it arrived: one report from the future can
neither keep a car "at its place" while it drives away nor lock an open trunk on paper."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.security.common import NEAR, refused, trunk_open
from tests.support import OFFICE, World


def _report(world: World, vehicle: dict[str, Any], kind: str, ahead_s: int, **data: Any) -> Any:
    return world.post(
        "aurora-cloud",
        "/v1/vehicle-events",
        {
            "event_id": f"forged-{kind}-{ahead_s}",
            "vehicle_id": vehicle["external_id"],
            "type": kind,
            "occurred_at": (world.clock.now() + timedelta(seconds=ahead_s)).isoformat(),
            **data,
        },
    )


def test_a_report_dated_far_ahead_is_refused(world: World) -> None:
    """A position dated 10 minutes after it arrives is refused (422, field occurred_at)."""
    vehicle = world.link_car()
    body = refused(
        _report(world, vehicle, "position", 600, latitude=OFFICE[0], longitude=OFFICE[1]),
        422,
        "report_from_the_future",
    )
    assert body["field"] == "occurred_at"


def test_a_position_from_the_future_does_not_hide_the_car_driving_away(world: World) -> None:
    """A report at the booked place dated ahead counts as made on arrival: the car's true
    report 2 km away a few seconds later wins, and the driver's access is refused."""
    vehicle, _, attempt = world.ready_at_car()
    world.ok(_report(world, vehicle, "position", 25, latitude=OFFICE[0], longitude=OFFICE[1]), 202)
    world.clock.advance(5)
    world.park(vehicle, (OFFICE[0] + 0.018, OFFICE[1]))  # ~2 km north, reported by the car
    read = world.ok(world.get("anna", f"/v1/vehicles/{vehicle['id']}"))
    assert read["latitude"] is None or abs(read["latitude"] - OFFICE[0]) > 0.01
    response = world.request_access(attempt["id"], NEAR)
    assert response.status_code != 202, response.text
    assert not trunk_open(world, vehicle)


def test_a_lock_report_from_the_future_does_not_close_an_open_trunk(world: World) -> None:
    """'Closed' and 'locked' dated ahead, posted before the unlock: the real opening wins,
    the deposit does not make the delivery delivered while the trunk is open."""
    vehicle, delivery, attempt = world.ready_at_car()
    world.ok(_report(world, vehicle, "trunk_closed", 25), 202)
    world.ok(_report(world, vehicle, "locked", 25), 202)
    world.clock.advance(1)
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.tick(20)
    assert trunk_open(world, vehicle)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    world.tick(4)
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert read["status"] != "delivered"
    car = world.ok(world.get("anna", f"/v1/vehicles/{vehicle['id']}"))
    assert car["trunk_state"] == "open"


def test_an_opening_made_before_the_access_request_is_not_credited_to_it(world: World) -> None:
    """A late report of an opening before the driver asked (the owner's own) does not
    count as the trunk opening for the driver's attempt."""
    vehicle, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.ok(_report(world, vehicle, "trunk_opened", -60), 202)
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert read["status"] == "unlocking"
