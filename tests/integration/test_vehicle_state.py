"""Car state from car-maker events, consent, and how long positions are kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support import OFFICE, World
from trunkdrop import workers
from trunkdrop.access.models import AuditEntry
from trunkdrop.vehicles.models import Vehicle, VehicleCommand, VehicleEvent


def _event(
    world: World, vehicle: dict[str, object], event_id: str, kind: str, minutes: int, **data: object
) -> dict[str, object]:
    at = (world.clock.now() + timedelta(minutes=minutes)).isoformat()
    body = {
        "event_id": event_id,
        "vehicle_id": vehicle["external_id"],
        "type": kind,
        "occurred_at": at,
        **data,
    }
    return world.ok(world.post("aurora-cloud", "/v1/vehicle-events", body), 202)


def test_event_ingest_is_idempotent_on_event_id(world: World) -> None:
    """The same event twice is stored once and acknowledged as a duplicate."""
    vehicle = world.link_car()
    first = _event(world, vehicle, "ev-1", "position", 0, latitude=OFFICE[0], longitude=OFFICE[1])
    again = _event(world, vehicle, "ev-1", "position", 0, latitude=OFFICE[0], longitude=OFFICE[1])
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    with world.platform.uow() as s:
        assert s.scalar(select(func.count()).select_from(VehicleEvent)) == 1


def test_an_older_event_does_not_overwrite_newer_state(world: World) -> None:
    """Clouds reorder: a lock report older than the last unlock report leaves the car unlocked."""
    vehicle = world.link_car()
    _event(world, vehicle, "ev-new", "unlocked", -1)
    _event(world, vehicle, "ev-old", "locked", -5)
    assert world.ok(world.get("anna", f"/v1/vehicles/{vehicle['id']}"))["lock_state"] == "unlocked"


def test_withdrawn_consent_makes_the_car_ineligible_and_forgets_its_position(world: World) -> None:
    """Withdrawing consent removes trunk access and the stored position at once."""
    vehicle = world.link_car()
    world.park(vehicle, OFFICE)
    read = world.ok(world.delete("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    assert "no_consent" in read["trunk_delivery_blockers"]
    assert read["latitude"] is None and read["position_at"] is None


def _link_body(vehicle: dict[str, Any], **over: Any) -> dict[str, Any]:
    keep = ("brand", "external_id", "make", "model", "year", "plate", "colour", "trunk_volume_l")
    return {**{k: vehicle[k] for k in keep}, **over}


def _audited(world: World, action: str, subject: str) -> list[AuditEntry]:
    with world.platform.uow() as s:
        return list(
            s.scalars(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.subject == subject)
            )
        )


def test_owner_gives_consent_again_after_withdrawing_it(world: World) -> None:
    """POST /v1/vehicles/{id}/consent restores the maker-confirmed scopes, audited."""
    vehicle = world.link_car()
    world.ok(world.delete("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    read = world.ok(world.post("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    assert "no_consent" not in read["trunk_delivery_blockers"]
    assert read["consent_scopes"] == vehicle["consent_scopes"]
    assert len(_audited(world, "vehicle.consent_given", vehicle["id"])) == 1
    assert world.post("ben", f"/v1/vehicles/{vehicle['id']}/consent").status_code == 403


def test_relinking_a_car_whose_consent_was_withdrawn_revives_the_link(world: World) -> None:
    """The owner links the car again after withdrawing consent: 201, the same car, consented."""
    vehicle = world.link_car()
    world.ok(world.delete("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    again = world.ok(world.post("anna", "/v1/vehicles", _link_body(vehicle, colour="red")), 201)
    assert (again["id"], again["colour"]) == (vehicle["id"], "red")
    assert "no_consent" not in again["trunk_delivery_blockers"]
    assert len(_audited(world, "vehicle.consent_given", vehicle["id"])) == 1


def test_another_customer_cannot_relink_a_car_whose_consent_was_withdrawn(world: World) -> None:
    """Only the owner revives a withdrawn link; anyone else still gets 409."""
    vehicle = world.link_car()
    world.ok(world.delete("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    taken = world.post("ben", "/v1/vehicles", _link_body(vehicle))
    assert (taken.status_code, taken.json()["code"]) == (409, "vehicle_already_linked")


def test_positions_are_forgotten_after_retention_when_no_delivery_needs_them(world: World) -> None:
    """A parked car's position is deleted 24 h after its last report once nothing is booked
    (with nothing booked at all it is not stored: tests/e2e/test_positions_kept.py)."""
    vehicle = world.link_car()
    delivery = world.book(vehicle, [(world.add_place(), 10, 12)])
    world.park(vehicle, OFFICE)
    world.ok(world.post("shop", f"/v1/deliveries/{delivery['id']}/cancel"))
    world.clock.advance(timedelta(hours=23).total_seconds())
    world.tick(2)
    with world.platform.uow() as s:
        car = s.get(Vehicle, vehicle["id"])
        assert car is not None and car.latitude is not None
    world.clock.advance(timedelta(hours=2).total_seconds())
    world.tick(2)
    with world.platform.uow() as s:
        car = s.get(Vehicle, vehicle["id"])
        assert car is not None and car.latitude is None


def test_carrier_sees_the_car_position_only_inside_the_window(world: World) -> None:
    """The driver's stop shows where the car stands only during the booked window."""
    vehicle = world.link_car()
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.route(delivery)
    world.park(vehicle, OFFICE)
    world.until(world.at(9, 0))
    assert world.next_stop()["vehicle"]["latitude"] is None
    world.until(world.at(10, 30))
    assert world.next_stop()["vehicle"]["latitude"] is not None


def test_a_redelivered_trunk_or_lock_report_changes_nothing(world: World) -> None:
    """A report read, logged and folded in one statement (PostgreSQL) is still taken once:
    sent again after newer state, it neither moves the car back nor is audited twice."""
    vehicle = world.link_car()
    opened = _event(world, vehicle, "ev-open", "trunk_opened", -3)
    _event(world, vehicle, "ev-closed", "trunk_closed", -2)
    _event(world, vehicle, "ev-locked", "locked", -1)
    again = _event(world, vehicle, "ev-open", "trunk_opened", -3)
    assert (opened["duplicate"], again["duplicate"]) == (False, True)
    read = world.ok(world.get("anna", f"/v1/vehicles/{vehicle['id']}"))
    assert (read["trunk_state"], read["lock_state"]) == ("closed", "locked")
    with world.platform.uow() as s:
        audited = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "vehicle.trunk_opened")
        )
        assert audited == 1
        assert s.scalar(select(func.count()).select_from(VehicleEvent)) == 3


def test_a_refused_report_does_not_undo_the_others_of_its_batch(world: World) -> None:
    """Reports of a car nobody linked are refused; the linked car's reports of the same batch
    are still taken in (the batch is retried report by report)."""
    vehicle = world.link_car()
    world.book(vehicle, [(world.add_place(), 10, 12)])  # a delivery needs the car's position
    world.platform.simulator.ensure_car("sim-aurora", "NEVER-LINKED")
    now = world.clock.now()
    world.platform.simulator.park("sim-aurora", "NEVER-LINKED", OFFICE[0], OFFICE[1], now)
    world.platform.simulator.park("sim-aurora", vehicle["external_id"], OFFICE[0], OFFICE[1], now)
    taken = workers.pump_simulator(world.platform, now)
    assert taken == 1
    with world.platform.uow() as s:
        stored = s.scalars(select(VehicleEvent.vehicle_id)).all()
        car = s.get(Vehicle, vehicle["id"])
        assert car is not None
        assert stored == [vehicle["id"]] and car.latitude == OFFICE[0]


def test_reports_the_database_could_not_take_are_delivered_again(world: World) -> None:
    """A batch of car reports that meets an unavailable database is not lost: the next pump
    delivers it again and the car's state catches up."""
    from unittest.mock import patch

    from sqlalchemy.exc import OperationalError

    vehicle = world.link_car()
    world.book(vehicle, [(world.add_place(), 10, 12)])  # a delivery needs the car's position
    now = world.clock.now()
    world.platform.simulator.park("sim-aurora", vehicle["external_id"], OFFICE[0], OFFICE[1], now)
    down = OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
    with patch.object(workers, "_take_in", side_effect=down), pytest.raises(OperationalError):
        workers.pump_simulator(world.platform, now)
    assert workers.pump_simulator(world.platform, now) == 1
    with world.platform.uow() as s:
        car = s.get(Vehicle, vehicle["id"])
        assert car is not None and car.latitude == OFFICE[0]


def test_the_fast_path_sends_a_queued_unlock_and_skips_the_database_when_nothing_waits(
    world: World,
) -> None:
    """After an access request commits its unlock, the fast path sends it; with nothing
    queued since, the fast path opens no transaction at all (the full pass still looks)."""
    from sqlalchemy import event

    _, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], OFFICE), 202)
    assert workers.run_commands(world.platform, only_if_queued=True).sent == 1
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(world.platform.engine, "before_cursor_execute", count)
    try:
        assert workers.run_commands(world.platform, only_if_queued=True).sent == 0
        assert statements == []
        workers.run_commands(world.platform)
        assert any("vehicle_commands" in s for s in statements)
    finally:
        event.remove(world.platform.engine, "before_cursor_execute", count)


class _CarOnItsOwnClock:
    """The reports a car on the car link sent, dated by its own clock (a ReportSource)."""

    def __init__(self, reports: list[tuple[str, dict[str, Any]]]) -> None:
        self.reports = reports

    def take(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        taken, self.reports = self.reports, []
        return taken

    def redeliver(self, reports: list[tuple[str, dict[str, Any]]]) -> None:
        self.reports[:0] = reports

    def settle(self, reports: list[tuple[str, dict[str, Any]]]) -> None:
        pass


def test_an_opening_taken_late_in_a_worker_pass_answers_the_access_of_that_pass(
    world: World,
) -> None:
    """A worker pass that began before the access request sends its unlock, and its reports
    step then takes the car's answer (dated by the car's clock after the request): the
    attempt moves to trunk_open. Stamped with the pass's start, the opening would be clamped
    to before the access, taken for the owner's own, and the attempt would wait forever."""
    from trunkdrop.deliveries.models import Attempt

    vehicle, _, attempt = world.ready_at_car()
    pass_began = world.clock.now()
    world.clock.advance(2)
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    with world.platform.uow() as s:
        unlock = s.get(Attempt, attempt["id"])
        assert unlock is not None and unlock.unlock_command_id is not None
        command_id = unlock.unlock_command_id
    opened = world.clock.advance(1).isoformat()
    car = {"vehicle_id": vehicle["external_id"], "occurred_at": opened}
    world.platform.reports = _CarOnItsOwnClock(
        [
            ("sim-aurora", {**car, "event_id": "c-1", "type": "command_executed",
                            "command_id": command_id}),
            ("sim-aurora", {**car, "event_id": "c-2", "type": "trunk_opened"}),
        ]
    )  # fmt: skip
    assert workers.pump_simulator(world.platform, pass_began) == 2
    with world.platform.uow() as s:
        after = s.get(Attempt, attempt["id"])
        assert after is not None and after.status == "trunk_open"
        answered = s.get(VehicleCommand, command_id)
        assert answered is not None and answered.status == "executed"
