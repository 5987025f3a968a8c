"""Nothing stalls a route: a car that never locks lets the driver go on, the incident stays
open, and an operator acknowledges, resolves and settles what the car left undecided."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.security.common import refused
from tests.support import OFFICE, World
from trunkdrop.access import audit
from trunkdrop.access.models import AuditEntry


def _deposited_in_a_car_that_never_locks(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two parcels on the route; the first goes into a trunk whose car ignores every lock
    command, and the driver shut the lid. Returns (first delivery, its attempt)."""
    vehicle = world.link_car()
    office = world.add_place()
    first = world.book(vehicle, [(office, 10, 12)])
    second_car = world.link_car(who="anna")
    second = world.book(second_car, [(office, 10, 14)])
    world.route(first, second)
    world.park(vehicle, OFFICE)
    world.park(second_car, OFFICE)
    world.until(world.at(10, 15))
    attempt = world.ok(world.start_attempt(world.next_stop()), 201)
    world.platform.simulator.car(vehicle["brand"], vehicle["external_id"]).ignore_lock = True
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    return first, attempt


def _give_up_relocking(world: World) -> None:
    """Five minutes to the first lock, then the retries until the watchdog gives up."""
    world.tick(15 * 60, step=10)


def _fail(world: World, attempt_id: str) -> Any:
    return world.post("driver", f"/v1/attempts/{attempt_id}/fail", {"reason": "car_unresponsive"})


def test_driver_goes_on_after_the_watchdog_gave_up_and_the_incident_stays_open(
    world: World,
) -> None:
    """After the relock tries the driver ends the stop; the next stop opens, the critical
    incident stays open and the delivery is not called delivered."""
    first, attempt = _deposited_in_a_car_that_never_locks(world)
    _give_up_relocking(world)
    kinds = {i["kind"]: i for i in world.ok(world.get("operator", "/v1/incidents"))["data"]}
    assert kinds["relock_failed"]["status"] == "open"
    left = world.ok(_fail(world, attempt["id"]))
    assert left["status"] == "deposited"
    nxt = world.next_stop()
    assert nxt["delivery_id"] != first["id"]
    kinds = {i["kind"]: i for i in world.ok(world.get("operator", "/v1/incidents"))["data"]}
    assert kinds["relock_failed"]["status"] == "open"
    read = world.ok(world.get("anna", f"/v1/deliveries/{first['id']}"))
    assert read["status"] == "out_for_delivery"
    assert "left_unconfirmed" in [t["kind"] for t in read["timeline"]]


def test_driver_cannot_leave_while_the_car_may_still_lock(world: World) -> None:
    """Before the watchdog has given up, ending the stop is refused with a reason."""
    _, attempt = _deposited_in_a_car_that_never_locks(world)
    world.tick(6 * 60, step=10)  # one lock sent, retries still to come
    refused(_fail(world, attempt["id"]), 409, "relock_in_progress")


def test_operator_settles_the_unconfirmed_delivery_as_delivered(world: World) -> None:
    """An operator confirming the parcel is in the car delivers it and resolves the
    attempt's incidents with the note, in the audit chain."""
    first, attempt = _deposited_in_a_car_that_never_locks(world)
    _give_up_relocking(world)
    world.ok(_fail(world, attempt["id"]))
    body = {"outcome": "delivered", "note": "owner confirmed the parcel is in the car"}
    settled = world.ok(world.post("operator", f"/v1/attempts/{attempt['id']}/settle", body))
    assert settled["status"] == "succeeded"
    read = world.ok(world.get("anna", f"/v1/deliveries/{first['id']}"))
    assert read["status"] == "delivered"
    incidents = world.ok(world.get("operator", "/v1/incidents"))["data"]
    assert {i["status"] for i in incidents if i["attempt_id"] == attempt["id"]} == {"resolved"}
    with world.platform.uow() as s:
        actions = s.scalars(select(AuditEntry.action)).all()
        assert "attempt.settled" in actions
        assert audit.verify(session=s).ok


def test_operator_settles_a_missing_parcel_as_not_delivered(world: World) -> None:
    """Not delivered: the attempt fails with `operator_override` and the fallback goes on."""
    first, attempt = _deposited_in_a_car_that_never_locks(world)
    _give_up_relocking(world)
    body = {"outcome": "not_delivered", "note": "owner found no parcel"}
    settled = world.ok(world.post("operator", f"/v1/attempts/{attempt['id']}/settle", body))
    assert (settled["status"], settled["failure_reason"]) == ("failed", "operator_override")
    read = world.ok(world.get("anna", f"/v1/deliveries/{first['id']}"))
    assert any(t["kind"].startswith("fallback_") for t in read["timeline"])


def test_only_an_operator_settles_and_only_a_waiting_attempt(world: World) -> None:
    """The driver may not settle their own attempt; an attempt no longer waiting for the
    car's lock (settled already) cannot be settled again."""
    _, attempt = _deposited_in_a_car_that_never_locks(world)
    body = {"outcome": "delivered", "note": "trust me"}
    path = f"/v1/attempts/{attempt['id']}/settle"
    assert world.post("driver", path, body).status_code == 403
    world.ok(world.post("operator", path, body))
    refused(world.post("operator", path, body), 409, "illegal_transition")


def test_operator_acknowledges_then_resolves_an_incident(world: World) -> None:
    """Acknowledging keeps the incident open with who and when; resolving closes it with
    the note; a second resolve is refused; a carrier may do neither."""
    _deposited_in_a_car_that_never_locks(world)
    _give_up_relocking(world)
    incident = next(
        i
        for i in world.ok(world.get("operator", "/v1/incidents"))["data"]
        if i["kind"] == "relock_failed"
    )
    path = f"/v1/incidents/{incident['id']}"
    assert world.post("carrier", f"{path}/acknowledge").status_code == 403
    acked = world.ok(world.post("operator", f"{path}/acknowledge"))
    assert (acked["status"], acked["acknowledged_by"]) == ("open", world.ids["operator"])
    resolved = world.ok(world.post("operator", f"{path}/resolve", {"note": "car towed to garage"}))
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "car towed to garage")
    refused(world.post("operator", f"{path}/resolve", {"note": "again"}), 409, "incident_resolved")
    refused(
        world.post("operator", "/v1/incidents/inc_nope/resolve", {"note": "x"}), 404, "not_found"
    )


def test_driver_cannot_fail_a_deposited_attempt_for_another_reason(world: World) -> None:
    """With the parcel in the trunk, only `car_unresponsive` ends the driver's stop."""
    _, attempt = _deposited_in_a_car_that_never_locks(world)
    _give_up_relocking(world)
    body = {"reason": "trunk_full"}
    refused(
        world.post("driver", f"/v1/attempts/{attempt['id']}/fail", body), 409, "illegal_transition"
    )
