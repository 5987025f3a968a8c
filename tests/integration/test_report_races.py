"""Two workers folding reports of one car at once (PostgreSQL, READ COMMITTED): each report
must act on what the other committed, not on the snapshot it started from."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests.support import OFFICE, World
from trunkdrop.access import audit
from trunkdrop.access.models import AuditEntry
from trunkdrop.deliveries import attempts, car_reports
from trunkdrop.deliveries.models import TimelineEntry
from trunkdrop.events.models import LoggedEvent
from trunkdrop.parties.models import Party
from trunkdrop.vehicles.models import Vehicle, VehicleCommand
from trunkdrop.vehicles.schemas import VehicleEventIn


@pytest.fixture(autouse=True)
def _postgresql_only(world: World) -> None:
    if world.platform.engine.dialect.name != "postgresql":
        pytest.skip("row locks and snapshots are PostgreSQL's; SQLite has one writer")


def _report(
    vehicle: dict[str, Any], event_id: str, kind: str, at: datetime, **more: Any
) -> VehicleEventIn:
    return VehicleEventIn.model_validate(
        {"event_id": event_id, "vehicle_id": vehicle["external_id"], "type": kind,
         "occurred_at": at.isoformat(), **more}
    )  # fmt: skip


def _waiting_on_a_lock(world: World) -> bool:
    with world.platform.engine.connect() as c:
        return bool(
            c.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            )
        )


def _race(
    world: World, vehicle: dict[str, Any], first: VehicleEventIn, second: VehicleEventIn
) -> list[BaseException]:
    """`first` is folded and left uncommitted; `second` starts in another session and
    waits on the car's row; then `first` commits and `second` goes on."""
    p = world.platform
    now = world.clock.now()
    a = p.session_factory()
    car_reports.ingest_vehicle_event(
        session=a, settings=p.settings, brand=vehicle["brand"], event_in=first, now=now
    )
    a.flush()
    errors: list[BaseException] = []

    def other() -> None:
        b = p.session_factory()
        try:
            car_reports.ingest_vehicle_event(
                session=b, settings=p.settings, brand=vehicle["brand"], event_in=second, now=now
            )
            b.commit()
        except BaseException as e:  # any failure is reported to the test
            errors.append(e)
            b.rollback()
        finally:
            b.close()

    t = threading.Thread(target=other)
    t.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(world) and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    a.commit()
    a.close()
    t.join(30)
    assert not t.is_alive()
    return errors


def _deposited(world: World) -> dict[str, Any]:
    vehicle, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    return vehicle


def test_two_trunk_closed_reports_at_once_queue_one_lock(world: World) -> None:
    """The second "trunk closed" sees the lock the first queued and queues none."""
    vehicle = _deposited(world)
    now = world.clock.now()
    errors = _race(
        world,
        vehicle,
        _report(vehicle, "ev-c1", "trunk_closed", now - timedelta(seconds=2)),
        _report(vehicle, "ev-c2", "trunk_closed", now - timedelta(seconds=1)),
    )
    assert not errors, errors
    with world.platform.uow() as s:
        locks = s.scalars(
            select(VehicleCommand.status).where(
                VehicleCommand.kind == "lock",
                VehicleCommand.status.in_(("pending", "sending", "sent")),
            )
        ).all()
    assert len(locks) == 1, locks


def test_two_locked_reports_at_once_deliver_the_parcel_once(world: World) -> None:
    """The second "locked" sees the attempt the first secured: one delivery, one event."""
    vehicle = _deposited(world)
    now = world.clock.now()
    p = world.platform
    with p.uow() as s:
        car_reports.ingest_vehicle_event(
            session=s,
            settings=p.settings,
            brand=vehicle["brand"],
            event_in=_report(vehicle, "ev-c0", "trunk_closed", now - timedelta(seconds=3)),
            now=now,
        )
    errors = _race(
        world,
        vehicle,
        _report(vehicle, "ev-l1", "locked", now - timedelta(seconds=2)),
        _report(vehicle, "ev-l2", "locked", now - timedelta(seconds=1)),
    )
    assert not errors, errors
    with p.uow() as s:
        kinds = s.scalars(select(LoggedEvent.kind)).all()
        assert audit.verify(session=s).ok
    assert kinds.count("delivery.delivered") == 1, kinds


def test_two_trunk_opened_reports_at_once_open_the_attempt_once(world: World) -> None:
    """The second "trunk opened" finds the attempt open already and opens nothing again."""
    vehicle, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.clock.advance(5)
    now = world.clock.now()
    errors = _race(
        world,
        vehicle,
        _report(vehicle, "ev-o1", "trunk_opened", now),
        _report(vehicle, "ev-o2", "trunk_opened", now),
    )
    assert not errors, errors
    with world.platform.uow() as s:
        timeline = s.scalars(select(TimelineEntry.kind)).all()
        assert audit.verify(session=s).ok
    assert timeline.count("trunk_open") == 1, timeline


def test_the_same_locked_report_twice_at_once_is_taken_once(world: World) -> None:
    """One report delivered twice at once: one delivery, the audit chain intact."""
    vehicle = _deposited(world)
    now = world.clock.now()
    p = world.platform
    with p.uow() as s:
        car_reports.ingest_vehicle_event(
            session=s,
            settings=p.settings,
            brand=vehicle["brand"],
            event_in=_report(vehicle, "ev-c0", "trunk_closed", now - timedelta(seconds=3)),
            now=now,
        )
    same = _report(vehicle, "ev-l1", "locked", now - timedelta(seconds=2))
    errors = _race(world, vehicle, same, same)
    assert not errors, errors
    with p.uow() as s:
        kinds = s.scalars(select(LoggedEvent.kind)).all()
        assert audit.verify(session=s).ok
    assert kinds.count("delivery.delivered") == 1, kinds


def test_an_older_report_racing_a_newer_one_does_not_win(world: World) -> None:
    """A report older than the car's last state, arriving at once, leaves that state."""
    vehicle = world.link_car()
    now = world.clock.now()
    errors = _race(
        world,
        vehicle,
        _report(vehicle, "ev-u", "unlocked", now - timedelta(seconds=1)),
        _report(vehicle, "ev-l", "locked", now - timedelta(seconds=5)),
    )
    errors += _race(
        world,
        vehicle,
        _report(vehicle, "ev-tc", "trunk_closed", now - timedelta(seconds=1)),
        _report(vehicle, "ev-to", "trunk_opened", now - timedelta(seconds=4)),
    )
    assert not errors, errors
    with world.platform.uow() as s:
        car = s.get(Vehicle, vehicle["id"])
        assert car is not None
        assert (car.lock_state, car.trunk_state) == ("unlocked", "closed")


def test_two_answers_to_one_command_at_once_count_once(world: World) -> None:
    """A command answered "executed" and "rejected" at once ends in one answer only."""
    vehicle, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    with world.platform.uow() as s:
        command = s.scalars(
            select(VehicleCommand.id).where(VehicleCommand.kind == "unlock_trunk")
        ).one()
    now = world.clock.now()
    errors = _race(
        world,
        vehicle,
        _report(vehicle, "x1", "command_executed", now, command_id=command),
        _report(vehicle, "x2", "command_rejected", now, command_id=command, detail="nope"),
    )
    assert not errors, errors
    with world.platform.uow() as s:
        answers = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action.in_(("command.executed", "command.rejected")))
        )
    assert answers == 1


def test_a_deposit_waiting_on_a_trunk_opened_report_sees_the_trunk_open(world: World) -> None:
    """A deposit that waited for a "trunk opened" to commit decides on the open trunk:
    it queues no lock while the trunk stands open."""
    p = world.platform
    vehicle, _, attempt = world.ready_at_car()
    before = world.clock.now() - timedelta(seconds=60)
    with p.uow() as s:
        for i, kind in enumerate(("trunk_closed", "locked")):
            car_reports.ingest_vehicle_event(
                session=s,
                settings=p.settings,
                brand=vehicle["brand"],
                event_in=_report(vehicle, f"ev-pre{i}", kind, before),
                now=world.clock.now(),
            )
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.clock.advance(5)
    now = world.clock.now()
    a = p.session_factory()
    car_reports.ingest_vehicle_event(
        session=a,
        settings=p.settings,
        brand=vehicle["brand"],
        event_in=_report(vehicle, "ev-open", "trunk_opened", now),
        now=now,
    )
    a.flush()  # holds the car's row and the attempt's row
    errors: list[BaseException] = []

    def deposit() -> None:
        b = p.session_factory()
        try:
            driver = b.get(Party, world.ids["driver"])
            assert driver is not None
            attempts.confirm_deposit(
                session=b, settings=p.settings, driver=driver, attempt_id=attempt["id"], now=now
            )
            b.commit()
        except BaseException as e:  # any failure is reported to the test
            errors.append(e)
            b.rollback()
        finally:
            b.close()

    t = threading.Thread(target=deposit)
    t.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(world) and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    a.commit()
    a.close()
    t.join(30)
    assert not t.is_alive()
    assert not errors, errors
    with p.uow() as s:
        car = s.get(Vehicle, vehicle["id"])
        assert car is not None and car.trunk_state == "open"
        locks = s.scalars(select(VehicleCommand.status).where(VehicleCommand.kind == "lock")).all()
    assert locks == [], locks
