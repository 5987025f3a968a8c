"""A car whose consent at the car maker has expired is not opened: access is refused at
once (before any sweep has noted the expiry), and the sweep ends a live grant as a
withdrawal does."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from tests.security.common import (
    NEAR,
    grant_status,
    offline_grant,
    present,
    refused,
    trunk_open,
    unlock_count,
)
from tests.support import OFFICE, World
from trunkdrop.access.models import Grant
from trunkdrop.vehicles.models import Vehicle


def test_access_is_refused_after_expiry_even_before_the_sweep(world: World) -> None:
    """The consent ends at 07:00 on the delivery day; at 10:15, with no worker run since,
    the driver's access is refused `consent_expired`: no grant, no unlock, the attempt
    failed; the sweep had not yet noted the expiry."""
    vehicle = world.link_car()
    ends = datetime.fromisoformat(vehicle["consent_expires_at"])
    world.until(ends - timedelta(hours=1))
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.route(delivery)
    world.clock.set(world.at(10, 15))  # no worker runs: nothing has swept
    world.platform.simulator.park(
        vehicle["brand"], vehicle["external_id"], *OFFICE, world.clock.now()
    )
    attempt = world.ok(world.start_attempt(world.next_stop()), 201)

    body = refused(world.request_access(attempt["id"], NEAR), 409, "consent_expired")

    assert "consent_expired" in body["reasons"]
    assert unlock_count(world, attempt["id"]) == 0
    with world.platform.uow() as session:
        car = session.get(Vehicle, vehicle["id"])
        assert car is not None and car.consent_expired_at is None, "the sweep had not run"
        assert session.scalars(select(Grant).where(Grant.vehicle_id == car.id)).all() == []
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "failed"


def test_the_sweep_ends_a_live_grant_when_the_consent_expires(world: World) -> None:
    """A car that checks grants itself holds a live grant when its maker's consent runs
    out: the sweep revokes it, fails the attempt `consent_expired` and the car refuses the
    grant, exactly as after a withdrawal."""
    world.clock.set(world.clock.now() + timedelta(hours=3, minutes=50))  # links at 10:50
    vehicle = world.link_car(brand="sim-dagny")
    ends = datetime.fromisoformat(vehicle["consent_expires_at"])
    world.until(ends - timedelta(hours=4))
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.route(delivery)
    world.until(ends - timedelta(minutes=4))  # the grant (10 min) outlives the consent
    world.park(vehicle, OFFICE)
    attempt = world.ok(world.start_attempt(world.next_stop()), 201)
    granted = offline_grant(world, attempt["id"])
    assert grant_status(world, granted["grant_id"]) == "live"

    world.until(ends + timedelta(seconds=1))
    world.tick(2)  # the revocation is pushed to the car

    assert grant_status(world, granted["grant_id"]) == "revoked"
    after = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert after["status"] == "failed" and after["failure_reason"] == "consent_expired"
    verdict = present(
        world, vehicle, granted["grant_token"], world.handsets["driver"], attempt["id"]
    )
    assert verdict == "grant_revoked" and trunk_open(world, vehicle) is False
