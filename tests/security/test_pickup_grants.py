"""A pickup's grant is the delivery's grant under the same rules: one use, the trunk only,
in the window, at the booked place, for the driver's own handset, and killed by revocation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.security.common import (
    FAR,
    NEAR,
    grant_status,
    ledger_rows,
    offline_grant,
    present,
    redeem,
    refusal_reasons,
    refused,
    trunk_open,
    unlock_count,
)
from tests.support import OFFICE, Handset, World
from trunkdrop.access.models import Grant
from trunkdrop.vehicles.models import VehicleCommand


def _pickup_attempt(
    world: World, *, brand: str = "sim-aurora", hour: int = 10, minute: int = 15
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A return's pickup booked 10–12 from Anna's car at her office, the route started, the
    driver at the car at `hour:minute` with the attempt started. (vehicle, pickup, attempt)"""
    vehicle = world.link_car(brand=brand)
    office = world.add_place()
    pickup = world.book_pickup(vehicle, [(office, 10, 12)])
    world.route(pickup)
    world.park(vehicle, OFFICE)
    world.until(world.at(hour, minute))
    attempt = world.ok(world.start_attempt(world.next_stop()), 201)
    return vehicle, pickup, attempt


def _grant_of(world: World, attempt_id: str) -> Grant:
    with world.platform.uow() as s:
        grant = s.scalars(select(Grant).where(Grant.attempt_id == attempt_id)).one()
        s.expunge(grant)
        return grant


def test_a_pickup_grant_opens_once(world: World) -> None:
    """The grant is redeemed once (one ledger row, one unlock); asking again is refused and
    replaying its token is grant_redeemed."""
    _vehicle, _pickup, attempt = _pickup_attempt(world)
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    again = world.request_access(attempt["id"], NEAR)
    assert (again.status_code, again.json()["code"]) == (409, "access_already_requested")
    grant = _grant_of(world, attempt["id"])
    assert ledger_rows(world, grant.id) == 1
    assert unlock_count(world, attempt["id"]) == 1


def test_a_replayed_pickup_grant_token_is_refused(world: World) -> None:
    """A second redemption of a pickup's offline grant token is grant_redeemed."""
    vehicle, _pickup, attempt = _pickup_attempt(world, brand="sim-dagny")
    granted = offline_grant(world, attempt["id"])
    key = world.handsets["driver"].public_key
    assert redeem(world, vehicle["id"], granted["grant_token"], key, "cmd_a") == "ok"
    assert redeem(world, vehicle["id"], granted["grant_token"], key, "cmd_b") == "grant_redeemed"
    assert ledger_rows(world, granted["grant_id"]) == 1


def test_a_pickup_grant_opens_the_trunk_only(world: World) -> None:
    """Its scope is the trunk, and the only command it sends is unlock_trunk."""
    _vehicle, _pickup, attempt = _pickup_attempt(world)
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    assert _grant_of(world, attempt["id"]).scope == "trunk:unlock"
    with world.platform.uow() as s:
        kinds = set(
            s.scalars(select(VehicleCommand.kind).where(VehicleCommand.attempt_id == attempt["id"]))
        )
    assert kinds == {"unlock_trunk"}


def test_a_pickup_grant_is_refused_outside_its_window(world: World) -> None:
    """After the booked window: outside_window, the attempt fails, no unlock is sent."""
    _vehicle, _pickup, attempt = _pickup_attempt(world)
    world.until(world.at(12, 5))
    refused(world.request_access(attempt["id"], NEAR), 409, "outside_window")
    assert unlock_count(world, attempt["id"]) == 0
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "failed"


def test_a_pickup_grant_is_refused_away_from_the_booked_place(world: World) -> None:
    """The car parked a kilometre from the booked place: vehicle_moved, no unlock."""
    vehicle, _pickup, attempt = _pickup_attempt(world)
    world.park(vehicle, FAR)
    refused(world.request_access(attempt["id"], FAR), 409, "vehicle_moved")
    assert unlock_count(world, attempt["id"]) == 0
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (read["status"], read["failure_reason"]) == ("failed", "vehicle_moved")


def test_a_pickup_grant_needs_the_drivers_own_handset(world: World) -> None:
    """No proof: proof_missing; a handset never registered signs: refused; no unlock."""
    _vehicle, _pickup, attempt = _pickup_attempt(world)
    body = {"position": {"latitude": NEAR[0], "longitude": NEAR[1]}}
    refused(
        world.post("driver", f"/v1/attempts/{attempt['id']}/access", body), 409, "proof_missing"
    )
    stranger = world.request_access(attempt["id"], NEAR, handset=Handset(id="dev_unknown"))
    assert stranger.status_code in (403, 404, 409)
    assert unlock_count(world, attempt["id"]) == 0
    assert "proof_missing" in refusal_reasons(world)


def test_the_car_refuses_a_pickup_grant_on_another_handset(world: World) -> None:
    """The offline car checks the grant's handset: another phone presenting it is refused."""
    vehicle, _pickup, attempt = _pickup_attempt(world, brand="sim-dagny")
    granted = offline_grant(world, attempt["id"])
    verdict = present(world, vehicle, granted["grant_token"], Handset(), attempt["id"])
    assert verdict != "opened"
    assert trunk_open(world, vehicle) is False


def test_blocking_the_car_kills_a_live_pickup_grant(world: World) -> None:
    """The owner blocks access: the pickup's live grant is revoked and the car refuses it."""
    vehicle, _pickup, attempt = _pickup_attempt(world, brand="sim-dagny")
    granted = offline_grant(world, attempt["id"])
    assert grant_status(world, granted["grant_id"]) == "live"
    world.ok(world.post("anna", f"/v1/vehicles/{vehicle['id']}/block"))
    assert grant_status(world, granted["grant_id"]) == "revoked"
    world.tick(2)
    verdict = present(
        world, vehicle, granted["grant_token"], world.handsets["driver"], attempt["id"]
    )
    assert verdict == "grant_revoked"
    assert trunk_open(world, vehicle) is False
