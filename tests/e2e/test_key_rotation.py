"""Rotating the grant-signing key through the API (the operator page's button)."""

from __future__ import annotations

from sqlalchemy import select

from tests.support import OFFICE, World
from trunkdrop.access.models import Grant, SigningKey


def test_operator_rotates_and_the_next_grant_uses_the_new_key(world: World) -> None:
    """The operator's rotation makes a new current key and retires the old one; this
    process signs the next grant with it, so a delivery still opens the trunk."""
    world.ok(world.get("operator", "/v1/audit/verify"))
    vehicle, _, attempt = world.ready_at_car()
    made = world.ok(world.post("operator", "/v1/keys/rotate"), 201)
    with world.platform.uow() as session:
        keys = {k.kid: k.retired_at for k in session.scalars(select(SigningKey))}
    assert keys[made["kid"]] is None
    assert sum(1 for retired in keys.values() if retired is None) == 1
    assert len(keys) >= 2
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert read["status"] == "trunk_open", read
    with world.platform.uow() as session:
        grant = session.scalars(select(Grant).where(Grant.vehicle_id == vehicle["id"])).one()
    assert grant.kid == made["kid"]


def test_only_the_operator_rotates_keys(world: World) -> None:
    """A customer or a shop asking to rotate is refused (403) and no key is made."""
    with world.platform.uow() as session:
        before = len(session.scalars(select(SigningKey)).all())
    for who in ("anna", "shop", "carrier"):
        assert world.post(who, "/v1/keys/rotate").status_code == 403
    with world.platform.uow() as session:
        assert len(session.scalars(select(SigningKey)).all()) == before
