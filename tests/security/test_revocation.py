"""Revocation fails closed: block, consent withdrawn, a failed attempt, the car leaving its
geofence or the handset revoked kill the live grant at once (and a revoked handset's queued
unlock); an unreadable ledger refuses access."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError

from tests.security.common import (
    FAR,
    NEAR,
    dispatch_once,
    grant_status,
    issue_grant,
    offline_car_ready,
    offline_grant,
    paused_after,
    present,
    refused,
    revoke_handset,
    trunk_open,
    two_drivers_at_one_car,
    unlock_count,
)
from tests.support import HOME, World
from trunkdrop.access.models import AuditEntry
from trunkdrop.deliveries import attempts, car_link, stop_failures, upkeep, withdrawals
from trunkdrop.devices.models import Device
from trunkdrop.dispatch.models import RouteStop
from trunkdrop.errors import Conflict
from trunkdrop.incidents.models import Incident
from trunkdrop.parties.models import Party
from trunkdrop.schemas import Position
from trunkdrop.vehicles.models import VehicleCommand


def _live_offline_grant(world: World) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    assert grant_status(world, granted["grant_id"]) == "live"
    return vehicle, attempt, granted


def _car_refuses(world: World, vehicle: dict[str, Any], attempt: dict[str, Any], token: str) -> str:
    world.tick(2)  # the revocation is pushed to the car
    verdict = present(world, vehicle, token, world.handsets["driver"], attempt["id"])
    assert verdict != "opened"
    assert trunk_open(world, vehicle) is False
    return verdict


def test_owner_block_kills_the_live_grant(world: World) -> None:
    """The owner blocks access: the live grant is revoked at once and the car refuses it."""
    vehicle, attempt, granted = _live_offline_grant(world)
    world.ok(world.post("anna", f"/v1/vehicles/{vehicle['id']}/block"))
    assert grant_status(world, granted["grant_id"]) == "revoked"
    assert _car_refuses(world, vehicle, attempt, granted["grant_token"]) == "grant_revoked"


def test_consent_withdrawal_kills_the_live_grant(world: World) -> None:
    """The owner withdraws consent: the live grant is revoked at once and the car refuses it."""
    vehicle, attempt, granted = _live_offline_grant(world)
    world.ok(world.delete("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    assert grant_status(world, granted["grant_id"]) == "revoked"
    assert _car_refuses(world, vehicle, attempt, granted["grant_token"]) == "grant_revoked"


def test_grant_ended_by_withdrawal_stays_ended_when_consent_is_given_again(world: World) -> None:
    """Consent given again revives neither the revoked grant nor the failed attempt."""
    vehicle, attempt, granted = _live_offline_grant(world)
    world.ok(world.delete("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    world.ok(world.post("anna", f"/v1/vehicles/{vehicle['id']}/consent"))
    assert grant_status(world, granted["grant_id"]) == "revoked"
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "failed"
    assert _car_refuses(world, vehicle, attempt, granted["grant_token"]) == "grant_revoked"


def test_failed_attempt_kills_the_live_grant(world: World) -> None:
    """The attempt fails (driver reports it): its live grant is revoked and the car refuses it."""
    vehicle, attempt, granted = _live_offline_grant(world)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/fail", {"reason": "trunk_full"}))
    assert grant_status(world, granted["grant_id"]) == "revoked"
    assert _car_refuses(world, vehicle, attempt, granted["grant_token"]) == "grant_revoked"


def test_car_leaving_the_geofence_kills_the_live_grant(world: World) -> None:
    """The car reports a position far from the booked place: the attempt fails vehicle_moved,
    the grant is revoked, and the car refuses it anyway (outside the geofence)."""
    vehicle, attempt, granted = _live_offline_grant(world)
    world.park(vehicle, HOME)
    assert grant_status(world, granted["grant_id"]) == "revoked"
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (read["status"], read["failure_reason"]) == ("failed", "vehicle_moved")
    assert _car_refuses(world, vehicle, attempt, granted["grant_token"]) in (
        "grant_revoked",
        "outside_geofence",
    )


@pytest.mark.parametrize("table", ["grant_redemptions", "grants"])
def test_unreadable_ledger_refuses_access_with_503(world: World, table: str) -> None:
    """The database fails while the grant ledger is read: 503 problem+json, nothing committed,
    no unlock, and the attempt can ask again once the database is back."""
    vehicle, _, attempt = world.ready_at_car()
    engine = world.platform.engine

    def fail(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if table in statement and ("INSERT" in statement or "FROM " + table in statement):
            raise OperationalError(statement, {}, Exception("disk I/O error"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        response = world.request_access(attempt["id"], NEAR)
    finally:
        event.remove(engine, "before_cursor_execute", fail)
    body = refused(response, 503, "unavailable")
    assert "I/O" not in body["detail"]
    assert unlock_count(world, attempt["id"]) == 0
    world.tick(20)
    assert trunk_open(world, vehicle) is False
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "started"
    world.ok(world.request_access(attempt["id"], NEAR), 202)


def test_revoked_handset_stops_the_unlock_it_queued(world: World) -> None:
    """Revoking a handset right after it asked for an online car's unlock: the unlock is
    dropped, the attempt fails with device_revoked, and the trunk stays shut. (An online
    car's grant is spent at issue, so ending live grants alone would not stop it.)"""
    vehicle, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.ok(world.post("carrier", f"/v1/devices/{world.handsets['driver'].id}/revoke"))
    world.tick(12)
    with world.platform.uow() as s:
        command = s.get(VehicleCommand, granted["command_id"])
        assert command is not None
        assert command.status == "dropped"
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (read["status"], read["failure_reason"]) == ("failed", "device_revoked")
    assert trunk_open(world, vehicle) is False


def test_dispatcher_does_not_send_an_unlock_for_a_revoked_handset(world: World) -> None:
    """Should a handset be revoked past the flows (a direct change to its row), the
    dispatcher still checks it before the unlock leaves, and drops the unlock."""
    vehicle, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    with world.platform.uow() as s:
        s.execute(
            update(Device)
            .where(Device.id == world.handsets["driver"].id)
            .values(revoked_at=world.clock.now())
        )
    world.tick(12)
    with world.platform.uow() as s:
        command = s.get(VehicleCommand, granted["command_id"])
        assert command is not None
        assert (command.status, command.detail) == ("dropped", "grant no longer valid")
    assert trunk_open(world, vehicle) is False


def test_revocation_racing_an_access_request_kills_its_grant(world: World) -> None:
    """A handset revoked while its access request is between the proof check and its commit:
    the revocation waits for the request and then kills the grant it issued, so the car
    refuses it (without the row lock, PostgreSQL let the grant live)."""
    vehicle, _, attempt = offline_car_ready(world)
    handset, platform = world.handsets["driver"], world.platform
    proof = world.proof(attempt["id"])
    outcome: dict[str, Any] = {}

    def ask() -> None:
        with platform.uow() as s:
            driver = s.get(Party, world.ids["driver"])
            assert driver is not None
            outcome["granted"] = attempts.request_access(
                session=s,
                settings=platform.settings,
                keyring=platform.keyring(s),
                driver=driver,
                attempt_id=attempt["id"],
                position=Position(latitude=NEAR[0], longitude=NEAR[1]),
                proof=proof,
                now=world.clock.now(),
            )

    with paused_after(attempts.devices, "check_proof") as (checked, go):
        asking = threading.Thread(target=ask)
        asking.start()
        assert checked.wait(20)
        revoking = threading.Thread(target=revoke_handset, args=(world,))
        revoking.start()
        revoking.join(1.0)
        assert revoking.is_alive(), "the revocation did not wait for the request in flight"
        go.set()
        asking.join(20)
        revoking.join(20)
    granted = outcome["granted"]
    assert grant_status(world, granted.grant_id) == "revoked"
    world.tick(2)  # the revocation reaches the car
    assert present(world, vehicle, granted.grant_token, handset, attempt["id"]) != "opened"
    assert trunk_open(world, vehicle) is False


def _race_the_dispatcher(world: World) -> tuple[list[BaseException], bool]:
    """A dispatcher claims the waiting unlock and pauses; meanwhile the carrier revokes the
    handset. Returns the errors of both and whether the revocation waited for the
    dispatcher."""
    errors: list[BaseException] = []

    def run(work: Any) -> None:
        try:
            work(world)
        except Exception as e:
            errors.append(e)

    with paused_after(car_link.vehicles, "commands_to_handle") as (claimed, go):
        dispatching = threading.Thread(target=run, args=(dispatch_once,))
        dispatching.start()
        assert claimed.wait(20)
        revoking = threading.Thread(target=run, args=(revoke_handset,))
        revoking.start()
        revoking.join(1.0)
        waited = revoking.is_alive()
        go.set()
        dispatching.join(30)
        revoking.join(30)
    return errors, waited


def test_revocation_while_the_dispatcher_holds_the_unlock(world: World, database_url: str) -> None:
    """A handset revoked while a dispatcher holds its unlock: both finish, the revocation
    having waited. The unlock is either dropped unsent (PostgreSQL: the dispatcher sees
    the handset held and leaves it) or sent first (SQLite's one writer), and then the
    record says so and the opening is relocked as unexpected; it is never marked dropped
    after it left."""
    vehicle, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    errors, waited = _race_the_dispatcher(world)
    assert errors == [] and waited
    world.tick(12)
    with world.platform.uow() as s:
        command = s.get(VehicleCommand, granted["command_id"])
        assert command is not None
        status, sent_at = command.status, command.sent_at
        incidents = list(s.scalars(select(Incident.kind)))
    if database_url.startswith("postgresql"):
        assert (status, sent_at) == ("dropped", None)
    if status == "dropped":
        assert sent_at is None
        assert trunk_open(world, vehicle) is False
    else:
        assert status == "executed" and sent_at is not None
        assert "unexpected_trunk_open" in incidents
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (read["status"], read["failure_reason"]) == ("failed", "device_revoked")


def test_revocation_racing_an_expiring_unlock_ends_the_attempt_once(world: World) -> None:
    """A handset revoked while a dispatcher expires its unsent unlock: no deadlock, both
    finish, the attempt fails once (one reason, one fallback stop)."""
    _, delivery, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.clock.advance(31)  # the unlock was never sent and has run out
    errors, _ = _race_the_dispatcher(world)
    assert errors == []
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert read["status"] == "failed"
    with world.platform.uow() as s:
        stops = list(s.scalars(select(RouteStop).where(RouteStop.delivery_id == delivery["id"])))
    assert _failures_audited(world, attempt["id"]) == 1
    assert len(stops) == 2, [(st.mode, st.status) for st in stops]


def _both(world: World, first: Any, pause: tuple[Any, str], second: Any) -> list[Exception]:
    """`first` runs until `pause` returns and waits there, holding its rows; `second` starts
    and gets 1.5 s to queue behind them; then both finish. Their errors."""
    errors: list[Exception] = []

    def run(work: Any) -> None:
        try:
            work()
        except Exception as e:
            errors.append(e)

    with paused_after(*pause) as (reached, go):
        one = threading.Thread(target=run, args=(first,))
        one.start()
        assert reached.wait(20)
        two = threading.Thread(target=run, args=(second,))
        two.start()
        two.join(1.5)
        go.set()
        one.join(30)
        two.join(30)
    return errors


def _driver_gives_up(world: World, attempt_id: str) -> None:
    platform = world.platform
    with platform.uow() as s:
        driver = s.get(Party, world.ids["driver"])
        assert driver is not None
        stop_failures.report_failure(
            session=s,
            settings=platform.settings,
            driver=driver,
            attempt_id=attempt_id,
            reason="trunk_not_opened",
            detail="the trunk did not open",
            now=world.clock.now(),
        )


def _owner_blocks(world: World, vehicle_id: str) -> None:
    platform = world.platform
    with platform.uow() as s:
        owner = s.get(Party, world.ids["anna"])
        assert owner is not None
        withdrawals.set_access_blocked(
            session=s,
            settings=platform.settings,
            owner=owner,
            vehicle_id=vehicle_id,
            blocked=True,
            now=world.clock.now(),
        )


def test_driver_giving_up_as_the_unlock_runs_out_does_not_deadlock(world: World) -> None:
    """The driver reports failure just as the dispatcher expires the unsent unlock (both at
    about 30 s): no deadlock; the attempt fails once, by whichever came first (the other is
    told it already failed: 409)."""
    _, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.clock.advance(31)
    errors = _both(
        world,
        lambda: dispatch_once(world),
        (car_link.vehicles, "commands_to_handle"),
        lambda: _driver_gives_up(world, attempt["id"]),
    )
    assert all(isinstance(e, Conflict) and e.code == "illegal_transition" for e in errors), errors
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "failed"
    assert _failures_audited(world, attempt["id"]) == 1


def test_revoking_a_handset_while_the_driver_gives_up_does_not_deadlock(world: World) -> None:
    """The carrier revokes the handset while the driver's failure report holds the attempt:
    no deadlock; the handset is revoked and the attempt fails once."""
    _, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    errors = _both(
        world,
        lambda: _driver_gives_up(world, attempt["id"]),
        (attempts, "own_attempt"),
        lambda: revoke_handset(world),
    )
    assert errors == []
    assert _failures_audited(world, attempt["id"]) == 1
    refused(world.request_access(attempt["id"], NEAR), 403, "device_revoked")


def test_revoking_a_handset_while_the_owner_blocks_does_not_deadlock(world: World) -> None:
    """At a car that checks grants itself, the carrier revokes the handset while the owner
    blocks access: no deadlock, the handset stays revoked, the grant is dead."""
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    errors = _both(
        world,
        lambda: revoke_handset(world),
        (attempts.devices, "revoke_device"),
        lambda: _owner_blocks(world, vehicle["id"]),
    )
    assert errors == []
    with world.platform.uow() as s:
        device = s.get(Device, world.handsets["driver"].id)
        assert device is not None and device.revoked_at is not None
    assert grant_status(world, granted["grant_id"]) == "revoked"


def _failures_audited(world: World, attempt_id: str) -> int:
    with world.platform.uow() as s:
        return len(
            list(
                s.scalars(
                    select(AuditEntry).where(
                        AuditEntry.action == "attempt.failed", AuditEntry.subject == attempt_id
                    )
                )
            )
        )


def test_an_attempt_failing_keeps_another_attempts_unlock_at_the_same_car(world: World) -> None:
    """Two drivers at one car (two parcels): the second gives up while the first's unlock
    still waits to be sent; the first's unlock stays and goes out, its attempt is not
    stranded in `unlocking`."""
    _, mine, theirs = two_drivers_at_one_car(world)
    granted = world.ok(world.request_access(mine["id"], NEAR), 202)
    world.ok(world.post("driver2", f"/v1/attempts/{theirs['id']}/fail", {"reason": "trunk_full"}))
    world.tick(12)
    with world.platform.uow() as s:
        command = s.get(VehicleCommand, granted["command_id"])
        assert command is not None and command.status == "executed"
    assert world.ok(world.get("driver", f"/v1/attempts/{mine['id']}"))["status"] == "trunk_open"


def test_sweep_racing_an_access_request_does_not_deadlock(world: World) -> None:
    """The sweep (ran-out grants, then spent nonces) while an access request holds the nonce
    it burnt and goes on to the car's ran-out grants: no deadlock; the request is granted."""
    vehicle, _, attempt = world.ready_at_car()
    platform = world.platform
    # A grant at this car that ran out and is not swept yet.
    issue_grant(world, vehicle["id"], "att_elsewhere", "dlv_elsewhere", lifetime_s=1)
    proof = world.proof(attempt["id"])
    asked_at = world.clock.now() + timedelta(seconds=59.5)  # the nonce is still good
    swept_at = world.clock.now() + timedelta(seconds=61)  # and spent for the sweep
    granted: list[Any] = []

    def ask() -> None:
        with platform.uow() as s:
            driver = s.get(Party, world.ids["driver"])
            assert driver is not None
            granted.append(
                attempts.request_access(
                    session=s,
                    settings=platform.settings,
                    keyring=platform.keyring(s),
                    driver=driver,
                    attempt_id=attempt["id"],
                    position=Position(latitude=NEAR[0], longitude=NEAR[1]),
                    proof=proof,
                    now=asked_at,
                )
            )

    def sweep() -> None:
        with platform.uow() as s:
            upkeep.sweep(
                session=s, settings=platform.settings, now=swept_at, done=upkeep.WorkDone()
            )

    errors = _both(world, ask, (attempts.devices, "check_proof"), sweep)
    assert errors == [] and len(granted) == 1


def test_a_car_driving_off_ends_every_attempt_at_it(world: World) -> None:
    """Two drivers at one car, one of them with its unlock queued: the car reports it has
    driven 1.1 km away and both attempts fail (vehicle_moved); the queued unlock is dropped
    and the trunk stays shut."""
    vehicle, mine, theirs = two_drivers_at_one_car(world)
    granted = world.ok(world.request_access(mine["id"], NEAR), 202)
    event = {
        "event_id": "moved-1",
        "vehicle_id": vehicle["external_id"],
        "type": "position",
        "occurred_at": world.clock.now().isoformat(),
        "latitude": FAR[0],
        "longitude": FAR[1],
    }
    world.ok(world.post("aurora-cloud", "/v1/vehicle-events", event), 202)
    world.tick(20)
    for driver, attempt in (("driver", mine), ("driver2", theirs)):
        read = world.ok(world.get(driver, f"/v1/attempts/{attempt['id']}"))
        assert (read["status"], read["failure_reason"]) == ("failed", "vehicle_moved")
    with world.platform.uow() as s:
        command = s.get(VehicleCommand, granted["command_id"])
        assert command is not None and command.status == "dropped"
    assert trunk_open(world, vehicle) is False


def test_revoking_a_handset_leaves_an_offline_delivery_to_the_cars_report(world: World) -> None:
    """At a car that checks grants itself and is out of reach, the trunk opened and the
    parcel went in before the handset was revoked: the attempt is not failed, and the car's
    report, once it is back, settles the delivery as delivered."""
    vehicle, delivery, attempt = offline_car_ready(world)
    platform, handset = world.platform, world.handsets["driver"]
    platform.simulator.go_offline(vehicle["brand"], vehicle["external_id"], world.clock.now())
    world.tick(2)
    granted = offline_grant(world, attempt["id"])
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "opened"
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    platform.simulator.close_trunk(vehicle["brand"], vehicle["external_id"], world.clock.now())
    world.tick(4)
    world.ok(world.post("carrier", f"/v1/devices/{handset.id}/revoke"))
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] != "failed"
    world.clock.advance(20 * 60)
    platform.simulator.come_online(vehicle["brand"], vehicle["external_id"], world.clock.now())
    world.tick(4)
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome"]) == ("delivered", "delivered_trunk")
