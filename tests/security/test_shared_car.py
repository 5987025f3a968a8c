"""Two parcels for one car, and a car's late reports: an opening is credited to the attempt
whose unlock caused it, a lock secures every parcel in the trunk, and the owner opening
their own trunk is not taken for a delivery's."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from tests.security.common import NEAR, two_drivers_at_one_car
from tests.support import World
from trunkdrop.incidents.models import Incident

_events = itertools.count()


def _status(world: World, driver: str, attempt: dict[str, Any]) -> str:
    return str(world.ok(world.get(driver, f"/v1/attempts/{attempt['id']}"))["status"])


def _incidents(world: World) -> list[str]:
    with world.platform.uow() as s:
        return list(s.scalars(select(Incident.kind)))


def test_an_unlock_in_flight_for_a_failed_attempt_keeps_the_car_busy(world: World) -> None:
    """Driver A gives up after A's unlock left for the car: driver B's access request is
    refused as busy (409) while that unlock may still open the trunk, so A's opening is
    never credited to B."""
    _, mine, theirs = two_drivers_at_one_car(world)
    world.ok(world.request_access(mine["id"], NEAR), 202)
    world.tick(2)  # A's unlock is on its way (the car answers after seconds)
    world.ok(world.post("driver", f"/v1/attempts/{mine['id']}/fail", {"reason": "trunk_full"}))
    busy = world.request_access(theirs["id"], NEAR, driver="driver2")
    assert busy.status_code == 409, busy.text
    assert _status(world, "driver2", theirs) == "started"


def test_a_lock_secures_every_parcel_in_the_trunk(world: World) -> None:
    """A deposits with the trunk still open, B opens it again and deposits, the car locks:
    both attempts succeed and the watchdog raises no incident."""
    vehicle, mine, theirs = two_drivers_at_one_car(world)
    world.ok(world.request_access(mine["id"], NEAR), 202)
    world.tick(20)
    world.ok(world.post("driver", f"/v1/attempts/{mine['id']}/deposit"))
    world.ok(world.request_access(theirs["id"], NEAR, driver="driver2"), 202)
    world.tick(20)
    world.ok(world.post("driver2", f"/v1/attempts/{theirs['id']}/deposit"))
    world.platform.simulator.close_trunk(
        vehicle["brand"], vehicle["external_id"], world.clock.now()
    )
    world.tick(30)
    assert _status(world, "driver", mine) == "succeeded"
    assert _status(world, "driver2", theirs) == "succeeded"
    world.tick(300)
    assert "trunk_not_locked" not in _incidents(world)


def test_the_owner_opening_later_is_not_taken_for_a_dropped_unlock(world: World) -> None:
    """A gives up before its unlock was sent (it is dropped); an hour later the owner opens
    the trunk: no incident, no lock sent."""
    vehicle, mine, _ = two_drivers_at_one_car(world)
    world.ok(world.request_access(mine["id"], NEAR), 202)
    world.ok(world.post("driver", f"/v1/attempts/{mine['id']}/fail", {"reason": "trunk_full"}))
    world.tick(4)
    world.clock.advance(3600)
    event = {
        "event_id": f"owner-{next(_events)}",
        "vehicle_id": vehicle["external_id"],
        "type": "trunk_opened",
        "occurred_at": world.clock.now().isoformat(),
    }
    world.ok(world.post("aurora-cloud", "/v1/vehicle-events", event), 202)
    world.tick(2)
    assert "unexpected_trunk_open" not in _incidents(world)
