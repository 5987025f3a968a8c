"""Commands expire: an unlock that is not sent in time is dropped; one that reaches the car late
is refused by the car. Either way the trunk stays shut."""

from __future__ import annotations

from sqlalchemy import select

from tests.security.common import NEAR, trunk_open
from tests.support import World
from trunkdrop import workers
from trunkdrop.vehicles.models import VehicleCommand


def _command(world: World, command_id: str) -> VehicleCommand:
    with world.platform.uow() as s:
        command = s.scalars(select(VehicleCommand).where(VehicleCommand.id == command_id)).one()
        s.expunge(command)
        return command


def test_dispatcher_drops_an_expired_unlock(world: World) -> None:
    """An unlock not sent within its 30 s (workers stalled): expired, never sent, trunk shut."""
    vehicle, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    workers.run_once(world.platform, world.clock.advance(31))
    command = _command(world, granted["command_id"])
    assert (command.status, command.sent_at) == ("expired", None)
    world.tick(30)
    assert trunk_open(world, vehicle) is False
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (read["status"], read["failure_reason"]) == ("failed", "command_expired")


def test_car_refuses_an_unlock_that_arrives_late(world: World) -> None:
    """The car's cloud takes 40 s to deliver a 30 s unlock: the car drops it, trunk stays shut."""
    vehicle, _, attempt = world.ready_at_car()
    world.platform.simulator.configure(vehicle["brand"], vehicle["external_id"], latency_s=40)
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.tick(2)
    assert _command(world, granted["command_id"]).status == "sent"
    world.tick(60)
    assert world.platform.simulator.pending_commands() == 0  # it did reach the car, late
    assert trunk_open(world, vehicle) is False
    assert _command(world, granted["command_id"]).status in ("rejected", "expired")
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (read["status"], read["failure_reason"]) == ("failed", "command_expired")
