"""Helpers shared by the security tests: a car at its booked place, a driver at it, and
the grants, tokens and refusals those tests look at."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from httpx import Response
from sqlalchemy import func, select

from tests.support import OFFICE, Handset, World
from trunkdrop.access import service as access
from trunkdrop.access.models import AuditEntry, Grant, GrantRedemption
from trunkdrop.deliveries import car_link, upkeep, withdrawals
from trunkdrop.parties.models import Party
from trunkdrop.vehicles.models import VehicleCommand

NEAR = (OFFICE[0] + 0.0001, OFFICE[1])  # ~11 m from the parked car
FAR = (OFFICE[0] + 0.01, OFFICE[1])  # ~1.1 km from it


def refused(response: Response, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json refusal with this status and code; return its body."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def access_with(
    world: World,
    attempt_id: str,
    *,
    nonce: str,
    signature: str,
    device_id: str | None = None,
    at: tuple[float, float] = NEAR,
) -> Response:
    return world.post(
        "driver",
        f"/v1/attempts/{attempt_id}/access",
        {
            "position": {"latitude": at[0], "longitude": at[1]},
            "device_id": device_id or world.handsets["driver"].id,
            "nonce": nonce,
            "signature": signature,
        },
    )


def unlock_count(world: World, attempt_id: str) -> int:
    with world.platform.uow() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(VehicleCommand)
                .where(
                    VehicleCommand.attempt_id == attempt_id, VehicleCommand.kind == "unlock_trunk"
                )
            )
            or 0
        )


def ledger_rows(world: World, grant_id: str) -> int:
    with world.platform.uow() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(GrantRedemption)
                .where(GrantRedemption.grant_id == grant_id)
            )
            or 0
        )


def grant_status(world: World, grant_id: str) -> str:
    with world.platform.uow() as s:
        grant = s.get(Grant, grant_id)
        assert grant is not None
        return grant.status


def refusal_reasons(world: World) -> list[str]:
    """Every reason recorded by an `access.refused` or `grant.refused` audit entry."""
    with world.platform.uow() as s:
        out: list[str] = []
        for entry in s.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(("access.refused", "grant.refused")))
        ):
            out += entry.data.get("reasons", []) or [entry.data.get("reason")]
        return out


def offline_car_ready(world: World) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A Dagny car (checks grants itself) parked at Anna's office, booked 10–12, the driver at
    the car at 10:15 with an attempt started. Returns (vehicle, delivery, attempt)."""
    vehicle = world.link_car(brand="sim-dagny")
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.route(delivery)
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    attempt = world.ok(world.start_attempt(world.next_stop()), 201)
    return vehicle, delivery, attempt


def offline_grant(world: World, attempt_id: str) -> dict[str, Any]:
    """Ask for access at a Dagny car: the answer carries the grant for the handset."""
    granted: dict[str, Any] = world.ok(world.request_access(attempt_id, NEAR), 202)
    assert granted["grant_token"].startswith("v4.public.")
    assert granted["command_id"] is None
    return granted


def present(
    world: World,
    vehicle: dict[str, Any],
    token: str,
    handset: Handset,
    attempt_id: str,
) -> str:
    """The handset answers the car's own challenge over Bluetooth and presents the grant."""
    sim = world.platform.simulator
    nonce = sim.car_challenge(vehicle["brand"], vehicle["external_id"], world.clock.now())
    return sim.present_grant(
        vehicle["brand"],
        vehicle["external_id"],
        token=token,
        nonce=nonce,
        signature=handset.sign(nonce, attempt_id),
        now=world.clock.now(),
    )


def trunk_open(world: World, vehicle: dict[str, Any]) -> bool:
    return world.platform.simulator.car(vehicle["brand"], vehicle["external_id"]).trunk_open


def issue_grant(
    world: World, vehicle_id: str, attempt_id: str, delivery_id: str, *, lifetime_s: int = 600
) -> tuple[str, str]:
    """A live grant straight from the access service, bound to the driver's handset."""
    p = world.platform
    handset = world.handsets["driver"]
    with p.uow() as s:
        grant, token = access.issue_grant(
            session=s,
            keyring=p.keyring(s),
            issuer=p.settings.grant_issuer,
            vehicle_id=vehicle_id,
            attempt_id=attempt_id,
            delivery_id=delivery_id,
            driver_id=world.ids["driver"],
            device_id=handset.id,
            device_key=handset.public_key,
            place_lat=OFFICE[0],
            place_lon=OFFICE[1],
            radius_m=300,
            window_end=world.at(12),
            lifetime_s=lifetime_s,
            now=world.clock.now(),
        )
        return grant.id, token


def two_drivers_at_one_car(world: World) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Anna's car booked for two parcels on two drivers' routes, both drivers at it with an
    attempt started. Returns (vehicle, the first driver's attempt, the second's)."""
    vehicle = world.link_car()
    office = world.add_place()
    first = world.book(vehicle, [(office, 10, 12)])
    second = world.book(vehicle, [(office, 10, 12)])
    world.route(first, driver="driver")
    world.route(second, driver="driver2")
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    mine = world.ok(world.start_attempt(world.next_stop("driver"), driver="driver"), 201)
    theirs = world.ok(world.start_attempt(world.next_stop("driver2"), driver="driver2"), 201)
    return vehicle, mine, theirs


def redeem(world: World, vehicle_id: str, token: str, device_key: str, command_id: str) -> str:
    """Redeem through the access service; "ok" or the refusal code."""
    from trunkdrop.errors import DomainError

    p = world.platform
    try:
        with p.uow() as s:
            access.redeem_grant(
                session=s,
                keyring=p.keyring(s),
                issuer=p.settings.grant_issuer,
                token=token,
                vehicle_id=vehicle_id,
                device_key=device_key,
                command_id=command_id,
                max_lifetime_s=600,
                now=world.clock.now(),
            )
    except DomainError as e:
        return e.code
    return "ok"


def dispatch_once(world: World) -> None:
    """One dispatcher pass in a transaction of its own (as one API process's worker)."""
    platform = world.platform
    with platform.uow() as s:
        car_link.dispatch_commands(
            session=s,
            settings=platform.settings,
            registry=platform.registry,
            now=world.clock.now(),
            done=upkeep.WorkDone(),
        )


def revoke_handset(world: World, driver: str = "driver", by: str = "carrier") -> None:
    """The carrier revokes the driver's handset through the flow, in its own transaction."""
    platform = world.platform
    with platform.uow() as s:
        party = s.get(Party, world.ids[by])
        assert party is not None
        withdrawals.revoke_device(
            session=s,
            settings=platform.settings,
            party=party,
            device_id=world.handsets[driver].id,
            now=world.clock.now(),
        )


@contextmanager
def paused_after(owner: Any, name: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """`owner.name` pauses once it has returned, inside its caller's transaction, until `go`
    is set; `reached` tells that a call got there. Restored (and released) on exit."""
    original = getattr(owner, name)
    reached, go = threading.Event(), threading.Event()

    def pausing(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        reached.set()
        go.wait(20)
        return out

    setattr(owner, name, pausing)
    try:
        yield reached, go
    finally:
        setattr(owner, name, original)
        go.set()
