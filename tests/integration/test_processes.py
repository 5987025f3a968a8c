"""Running as several processes: commands claimed, sent and recorded in turn (a dispatcher
that dies between claim and send is recovered), step locks, heartbeats, /ready, /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.security.common import NEAR, trunk_open
from tests.support import World
from trunkdrop import workers
from trunkdrop.deliveries import car_link
from trunkdrop.deliveries.upkeep import WorkDone
from trunkdrop.operations import service as operations
from trunkdrop.vehicles.models import VehicleCommand, VehicleEvent


def _command(world: World, command_id: str) -> VehicleCommand:
    with world.platform.uow() as s:
        command = s.scalars(select(VehicleCommand).where(VehicleCommand.id == command_id)).one()
        s.expunge(command)
        return command


def _claim(world: World) -> list[car_link.Claim]:
    platform = world.platform
    with platform.uow() as s:
        return car_link.claim_commands(
            session=s, settings=platform.settings, now=world.clock.now(), done=WorkDone()
        )


def test_a_claim_is_committed_before_the_car_is_called(world: World) -> None:
    """Claiming commits `sending` and sends nothing; the send and its record come after."""
    vehicle, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    claims = _claim(world)
    assert [c.command_id for c in claims] == [granted["command_id"]]
    assert _command(world, granted["command_id"]).status == "sending"
    assert world.platform.simulator.pending_commands() == 0  # nothing has left yet
    assert _claim(world) == []  # a second dispatcher finds it taken
    sent = car_link.send_claimed(
        registry=world.platform.registry, claims=claims, now=world.clock.now()
    )
    with world.platform.uow() as s:
        car_link.record_sends(session=s, sent=sent, now=world.clock.now(), done=WorkDone())
    assert _command(world, granted["command_id"]).status == "sent"
    world.tick(20)
    assert (_command(world, granted["command_id"]).status, trunk_open(world, vehicle)) == (
        "executed",
        True,
    )


def test_a_claim_never_sent_is_sent_again_once_and_opens_once(world: World) -> None:
    """A dispatcher dies after claiming: after the claim timeout the next pass sends the
    unlock; the car takes it once even when the first send had reached it."""
    vehicle, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    claims = _claim(world)  # ...and the process dies here: nothing sent, nothing recorded
    world.clock.advance(2)
    workers.run_once(world.platform, world.clock.now())
    assert _command(world, granted["command_id"]).status == "sending"  # not yet stale
    world.clock.advance(world.platform.settings.command_claim_timeout_s)
    # The dead dispatcher's send had in fact left: the car must not run it twice.
    car_link.send_claimed(registry=world.platform.registry, claims=claims, now=world.clock.now())
    workers.run_once(world.platform, world.clock.now())
    command = _command(world, granted["command_id"])
    assert command.tries == 2
    world.tick(20)
    assert trunk_open(world, vehicle) is True
    with world.platform.uow() as s:
        opened = s.scalars(
            select(VehicleEvent).where(
                VehicleEvent.vehicle_id == vehicle["id"], VehicleEvent.type == "trunk_opened"
            )
        ).all()
    assert _command(world, granted["command_id"]).status == "executed"
    assert len(opened) == 1  # the second send was dropped by the car
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert read["status"] == "trunk_open"


def test_a_claim_past_its_expiry_is_expired_not_sent(world: World) -> None:
    """A claim left by a dead dispatcher past the unlock's expiry: expired, the attempt
    failed, the trunk shut."""
    vehicle, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    _claim(world)
    workers.run_once(world.platform, world.clock.advance(31))
    assert _command(world, granted["command_id"]).status == "expired"
    world.tick(10)
    assert trunk_open(world, vehicle) is False
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (read["status"], read["failure_reason"]) == ("failed", "command_expired")


def test_step_lock_is_held_by_one_at_a_time(world: World) -> None:
    """On PostgreSQL a step's lock is held by one holder; released, it is free again
    (SQLite, one process, always runs the step)."""
    engine = world.platform.engine
    with operations.step_lock(engine, "watchdog") as first:
        assert first is True
        with operations.step_lock(engine, "watchdog") as second:
            assert second is (engine.dialect.name != "postgresql")
        with operations.step_lock(engine, "sweep") as other:
            assert other is True
    with operations.step_lock(engine, "watchdog") as again:
        assert again is True


def test_ready_wants_a_recent_worker_heartbeat(world: World) -> None:
    """Without workers in the process /ready is 503 until a worker beats, and again when
    the beat is older than the limit."""
    response = world.client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "workers": "no worker heartbeat"}
    now = world.clock.now()
    with world.platform.uow() as s:
        operations.beat(session=s, worker="w@test:1", started_at=now, now=now)
    assert world.client.get("/ready").status_code == 200
    world.clock.advance(world.platform.settings.worker_heartbeat_max_age_s + 1)
    assert world.client.get("/ready").status_code == 503
    with world.platform.uow() as s:
        gone = operations.forget_silent(session=s, now=world.clock.now(), after=timedelta(0))
    assert gone == 1


def test_metrics_need_an_operator_key(world: World) -> None:
    """/metrics refuses a missing key and a driver's key, and answers an operator with the
    request counters and the deliveries by status."""
    world.ready_at_car()
    assert world.client.get("/metrics").status_code == 401
    assert world.get("driver", "/metrics").status_code == 403
    world.add_party("operator", "ops")
    body = world.get("ops", "/metrics").text
    assert "trunkdrop_http_requests_total" in body
    assert 'trunkdrop_deliveries{status="' in body
    assert "trunkdrop_outbox_backlog" in body


@pytest.mark.parametrize("given", ["abc-123", "x" * 80])
def test_request_id_is_echoed_when_plain(world: World, given: str) -> None:
    """A plain X-Request-Id comes back as given; anything else is replaced by a new one."""
    answer = world.client.get("/health", headers={"X-Request-Id": given})
    echoed = answer.headers["x-request-id"]
    assert (echoed == given) is (len(given) <= 64)


def test_a_rotated_key_reaches_another_process_keyring_at_once(world: World) -> None:
    """A rotation's commit NOTIFYs `signing-keys`; a process hearing it signs with the new
    key on its next grant (without it, its cached keyring would keep the retired key)."""
    from trunkdrop.access import service as access
    from trunkdrop.access.service import KeyringCache
    from trunkdrop.operations import wakeups
    from trunkdrop.store import hints

    platform = world.platform
    passphrase = platform.settings.key_passphrase.get_secret_value()
    elsewhere = KeyringCache(passphrase)  # another API process's cache
    unlisten = wakeups.on_rotation(elsewhere.forget)
    try:
        with platform.uow() as s:
            before = elsewhere.get(s, now=world.clock.now()).current_kid
        with platform.uow() as s:
            made = access.rotate_signing_key(
                session=s, passphrase=passphrase, now=world.clock.now()
            )
            payloads = wakeups._payloads(hints.Flushed(s, (made,), (), ()))
            new_kid = made.kid
        for payload in payloads:
            wakeups._received(platform.engine, payload)
        with platform.uow() as s:
            after = elsewhere.get(s, now=world.clock.now()).current_kid
    finally:
        unlisten()
    assert before is not None and before != new_kid
    assert after == new_kid


def test_a_rotation_is_heard_over_postgresql_notify(
    world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a rotation's commit really reaches a listening connection and the
    listener makes the other keyring forget (no NOTIFY sent or heard: the wait runs out)."""
    import threading

    from trunkdrop.access import service as access
    from trunkdrop.operations import wakeups

    platform = world.platform
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    monkeypatch.setattr(wakeups, "_announcing", True)  # as `serve` and `worker` do
    heard = threading.Event()
    unlisten = wakeups.on_rotation(heard.set)
    listener = wakeups.Listener(platform.engine, database_url)
    listener.start()
    try:
        assert listener.listening.wait(10)
        passphrase = platform.settings.key_passphrase.get_secret_value()
        with platform.uow() as s:
            access.rotate_signing_key(session=s, passphrase=passphrase, now=world.clock.now())
        assert heard.wait(10)
    finally:
        unlisten()
        listener.stop()
