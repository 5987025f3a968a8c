"""A car whose consent at the car maker has expired is not opened: access is refused at
once (before any sweep has noted the expiry), and the sweep ends a live grant as a
withdrawal does.

Booking refuses windows past the consent's end, so each test moves the end into the
booked window afterwards, as a car maker shortening the term would."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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


def _consent_ends(world: World, vehicle: dict[str, Any], at: datetime) -> None:
    with world.platform.uow() as session:
        car = session.get(Vehicle, vehicle["id"])
        assert car is not None
        car.consent_expires_at = at


def test_access_is_refused_after_expiry_even_before_the_sweep(world: World) -> None:
    """The consent ends at 10:05 in the booked window; at 10:15, with no worker run since,
    the driver's access is refused `consent_expired`: no grant, no unlock, the attempt
    failed; the sweep had not yet noted the expiry."""
    vehicle = world.link_car()
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.route(delivery)
    _consent_ends(world, vehicle, world.at(10, 5))
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
    out: the grant was issued to end with the consent at the latest, and the sweep revokes
    it and fails the attempt `consent_expired` as after a withdrawal; the car refuses it."""
    vehicle = world.link_car(brand="sim-dagny")
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.route(delivery)
    ends = world.at(10, 50)
    _consent_ends(world, vehicle, ends)
    world.until(ends - timedelta(minutes=4))  # the grant (10 min) outlives the consent
    world.park(vehicle, OFFICE)
    attempt = world.ok(world.start_attempt(world.next_stop()), 201)
    granted = offline_grant(world, attempt["id"])
    assert grant_status(world, granted["grant_id"]) == "live"
    assert datetime.fromisoformat(granted["grant_expires_at"]) == ends

    world.until(ends + timedelta(seconds=1))
    world.tick(2)  # the revocation is pushed to the car

    assert grant_status(world, granted["grant_id"]) == "revoked"
    after = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert after["status"] == "failed" and after["failure_reason"] == "consent_expired"
    verdict = present(
        world, vehicle, granted["grant_token"], world.handsets["driver"], attempt["id"]
    )
    assert verdict in ("grant_revoked", "grant_expired") and trunk_open(world, vehicle) is False
