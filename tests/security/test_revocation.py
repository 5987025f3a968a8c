"""Revocation fails closed: block, consent withdrawn, a failed attempt or the car leaving its
geofence kill the live grant at once; an unreadable ledger refuses access."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.security.common import (
    NEAR,
    grant_status,
    offline_car_ready,
    offline_grant,
    present,
    refused,
    trunk_open,
    unlock_count,
)
from tests.support import HOME, World


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
