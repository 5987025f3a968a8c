"""Positions are kept only as long as a delivery needs them: none outside a booked window,
and none of an ended delivery once the retention (24 h) has passed."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import MetaData, event, select

from tests.support import World
from trunkdrop import workers
from trunkdrop.deliveries import upkeep
from trunkdrop.deliveries.models import Attempt
from trunkdrop.vehicles.models import Vehicle, VehicleEvent

# Positions near the office (within the booking's radius) that appear nowhere else: neither
# a place nor an address, so finding one means a tracked position was kept.
CAR_AT = (48.14031, 11.56013)
DRIVER_AT = (48.14027, 11.56009)
_NUMBER = re.compile(r"-?\d+\.\d+")


def _report(
    world: World, vehicle: dict[str, Any], event_id: str, where: tuple[float, float]
) -> None:
    event = {"event_id": event_id, "vehicle_id": vehicle["external_id"], "type": "position",
             "occurred_at": world.clock.now().isoformat(), "latitude": where[0],
             "longitude": where[1]}  # fmt: skip
    world.ok(world.post("aurora-cloud", "/v1/vehicle-events", event), 202)


def _logged(world: World, event_id: str) -> dict[str, Any]:
    with world.platform.uow() as session:
        row = session.scalars(select(VehicleEvent).where(VehicleEvent.event_id == event_id)).one()
        return dict(row.data)


def test_a_position_outside_any_window_is_not_stored(world: World) -> None:
    """A car with no booking: its reported position is neither its current position nor in
    its event log; with a 10–12 booking, a report at 07:00 keeps no coordinates in the log,
    one at 10:05 does."""
    vehicle = world.link_car()
    _report(world, vehicle, "p-none", CAR_AT)
    with world.platform.uow() as session:
        car = session.get(Vehicle, vehicle["id"])
        assert car is not None and car.latitude is None
    assert "latitude" not in _logged(world, "p-none")

    world.book(vehicle, [(world.add_place(), 10, 12)])
    _report(world, vehicle, "p-early", CAR_AT)
    assert "latitude" not in _logged(world, "p-early")
    world.clock.set(world.at(10, 5))
    _report(world, vehicle, "p-window", CAR_AT)
    assert _logged(world, "p-window")["latitude"] == CAR_AT[0]


def _found(world: World, values: set[float]) -> list[str]:
    """Every table and column in the database holding one of `values` (also inside JSON
    or text)."""
    hits = []
    engine = world.platform.engine
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    numbers: list[float] = []
                    if isinstance(value, float):
                        numbers = [value]
                    elif isinstance(value, str | dict | list):
                        raw = value if isinstance(value, str) else json.dumps(value)
                        numbers = [float(n) for n in _NUMBER.findall(raw)]
                    if any(abs(n - v) < 1e-9 for n in numbers for v in values):
                        hits.append(f"{table}.{column}")
    return hits


def _delivered_with_positions(
    world: World, driver_at: tuple[float, float] = DRIVER_AT
) -> dict[str, Any]:
    """A trunk delivery made with the car's and the driver's positions reported."""
    vehicle, delivery, stop = world.at_the_stop()
    _report(world, vehicle, "p-at-stop", CAR_AT)
    attempt = world.ok(world.start_attempt(stop, at=driver_at), 201)
    world.ok(world.request_access(attempt["id"], driver_at), 202)
    world.tick(20)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    world.platform.simulator.close_trunk(
        vehicle["brand"], vehicle["external_id"], world.clock.now()
    )
    world.tick(30)
    assert world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))["status"] == "delivered"
    return delivery


def test_no_coordinate_of_an_ended_delivery_is_left_after_a_day(world: World) -> None:
    """A trunk delivery with the car's and the driver's positions reported: right after it
    they are in the database; 25 h after it ended no table or column holds one of them."""
    _delivered_with_positions(world)
    used = {CAR_AT[0], CAR_AT[1], DRIVER_AT[0], DRIVER_AT[1]}
    assert _found(world, used), "the test's positions were never stored"

    world.clock.advance(int(timedelta(hours=25).total_seconds()))
    workers.run_once(world.platform, world.clock.now())
    assert _found(world, used) == []
    assert world.ok(world.get("operator", "/v1/audit/verify"))["ok"] is True


def test_a_sweep_reads_again_no_track_it_forgot(world: World) -> None:
    """Every worker pass sweeps: once an ended delivery's coordinates are forgotten, the next
    sweep loads neither the car's position reports nor the driver's attempt again (reading
    every forgotten row on every pass would grow with each day the platform has run)."""
    delivery = _delivered_with_positions(world)
    world.clock.advance(int(timedelta(hours=25).total_seconds()))
    workers.run_once(world.platform, world.clock.now())
    with world.platform.uow() as session:
        kept = session.scalars(select(Attempt).where(Attempt.delivery_id == delivery["id"])).one()
        assert (kept.driver_latitude, kept.driver_longitude) == (48.14, 11.56)
    read_again: list[str] = []

    def loaded(row: object, _context: object) -> None:
        if isinstance(row, Attempt) or (isinstance(row, VehicleEvent) and row.type == "position"):
            read_again.append(type(row).__name__)

    event.listen(Attempt, "load", loaded)
    event.listen(VehicleEvent, "load", loaded)
    try:
        with world.platform.uow() as session:
            upkeep.sweep(
                session=session,
                settings=world.platform.settings,
                now=world.clock.now(),
                done=upkeep.WorkDone(),
            )
    finally:
        event.remove(Attempt, "load", loaded)
        event.remove(VehicleEvent, "load", loaded)
    assert read_again == []


def test_a_driver_position_a_float_step_off_the_grid_is_rounded_too(world: World) -> None:
    """A driver's position a float step away from two decimals (48.14000000000001) is still
    finer than the sweep keeps: a day after the delivery it is stored as 48.14, on
    PostgreSQL too (whose float-to-decimal cast keeps 15 digits and would see 48.14)."""
    delivery = _delivered_with_positions(world, driver_at=(48.14000000000001, 11.560000000000002))
    world.clock.advance(int(timedelta(hours=25).total_seconds()))
    workers.run_once(world.platform, world.clock.now())
    with world.platform.uow() as session:
        kept = session.scalars(select(Attempt).where(Attempt.delivery_id == delivery["id"])).one()
        assert (kept.driver_latitude, kept.driver_longitude) == (48.14, 11.56)
