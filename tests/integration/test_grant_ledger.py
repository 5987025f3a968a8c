"""Grants against the real database: one use under concurrency, after a restart, key rotation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from tests.support import OFFICE, World
from trunkdrop.access import service as access
from trunkdrop.access.models import Grant, GrantRedemption
from trunkdrop.bootstrap import bootstrap
from trunkdrop.deliveries import attempts
from trunkdrop.errors import AccessRefused, Conflict
from trunkdrop.parties.models import Party
from trunkdrop.schemas import Position
from trunkdrop.vehicles.models import VehicleCommand


def _issue_live_grant(world: World) -> tuple[str, str, str]:
    """A live, unredeemed grant for Anna's car; returns (vehicle id, grant id, token)."""
    vehicle, delivery, attempt = world.ready_at_car()
    p = world.platform
    with p.uow() as s:
        grant, token = access.issue_grant(
            session=s,
            keyring=p.keyring(s),
            issuer=p.settings.grant_issuer,
            vehicle_id=vehicle["id"],
            attempt_id=attempt["id"],
            delivery_id=delivery["id"],
            driver_id=world.ids["driver"],
            device_id=world.handsets["driver"].id,
            device_key=world.handsets["driver"].public_key,
            place_lat=OFFICE[0],
            place_lon=OFFICE[1],
            radius_m=300,
            window_end=world.at(12),
            lifetime_s=600,
            now=world.clock.now(),
        )
        return vehicle["id"], grant.id, token


def _redeem(world: World, vehicle_id: str, token: str, command_id: str) -> bool:
    p = world.platform
    try:
        with p.uow() as s:
            access.redeem_grant(
                session=s,
                keyring=p.keyring(s),
                issuer=p.settings.grant_issuer,
                token=token,
                vehicle_id=vehicle_id,
                device_key=world.handsets["driver"].public_key,
                command_id=command_id,
                max_lifetime_s=600,
                now=world.clock.now(),
            )
        return True
    except AccessRefused:
        return False


def test_fifty_concurrent_redemptions_of_one_grant_succeed_exactly_once(world: World) -> None:
    """Fifty threads redeem the same grant at once: one wins, the ledger holds one row."""
    vehicle_id, grant_id, token = _issue_live_grant(world)
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: _redeem(world, vehicle_id, token, f"cmd_{i}"), range(50)))
    assert results.count(True) == 1
    with world.platform.uow() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(GrantRedemption)
                .where(GrantRedemption.grant_id == grant_id)
            )
            == 1
        )


def test_fifty_concurrent_access_requests_yield_one_unlock_command(world: World) -> None:
    """Fifty simultaneous access requests for one attempt create exactly one unlock command."""
    vehicle, _, attempt = world.ready_at_car()
    p = world.platform
    here = Position(latitude=OFFICE[0] + 0.0001, longitude=OFFICE[1])
    proofs = [world.proof(attempt["id"]) for _ in range(50)]

    def ask(i: int) -> str:
        try:
            with p.uow() as s:
                driver = s.get(Party, world.ids["driver"])
                assert driver is not None
                attempts.request_access(
                    session=s,
                    settings=p.settings,
                    keyring=p.keyring(s),
                    driver=driver,
                    attempt_id=attempt["id"],
                    position=here,
                    proof=proofs[i],
                    now=world.clock.now(),
                )
            return "granted"
        except (Conflict, AccessRefused) as e:
            return e.code

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(ask, range(50)))
    assert outcomes.count("granted") == 1
    with p.uow() as s:
        unlocks = s.scalar(
            select(func.count())
            .select_from(VehicleCommand)
            .where(
                VehicleCommand.vehicle_id == vehicle["id"], VehicleCommand.kind == "unlock_trunk"
            )
        )
        grants = s.scalar(
            select(func.count()).select_from(Grant).where(Grant.vehicle_id == vehicle["id"])
        )
    assert (unlocks, grants) == (1, 1)


def test_a_used_grant_stays_used_after_a_restart(world: World) -> None:
    """Redeem, restart the platform on the same database, redeem again: refused as already used."""
    vehicle_id, _, token = _issue_live_grant(world)
    assert _redeem(world, vehicle_id, token, "cmd_first")
    world.platform.close()
    world.platform = bootstrap(world.platform.settings, clock=world.clock, migrate=False)
    try:
        assert not _redeem(world, vehicle_id, token, "cmd_after_restart")
    finally:
        world.platform.close()


def test_grants_of_a_rotated_key_still_verify(world: World) -> None:
    """After `keys rotate`, a grant signed by the old key is still accepted until it expires."""
    vehicle_id, _, token = _issue_live_grant(world)
    p = world.platform
    with p.uow() as s:
        old = p.keyring(s).current_kid
        access.rotate_signing_key(
            session=s,
            passphrase=p.settings.key_passphrase.get_secret_value(),
            now=world.clock.now(),
        )
    with p.uow() as s:
        assert p.keyrings.refresh(s).current_kid != old
    assert _redeem(world, vehicle_id, token, "cmd_rotated")


def test_expired_grant_is_refused_and_swept(world: World) -> None:
    """A grant past its expiry is refused at redemption and marked expired by the sweeper."""
    vehicle_id, grant_id, token = _issue_live_grant(world)
    world.clock.advance(timedelta(minutes=11).total_seconds())
    assert not _redeem(world, vehicle_id, token, "cmd_late")
    world.tick(2)
    with world.platform.uow() as s:
        grant = s.get(Grant, grant_id)
        assert grant is not None and grant.status == "expired"


def test_every_refused_redemption_is_in_the_audit_trail(world: World) -> None:
    """Each refused second use is audited with its reason, and the chain stays intact."""
    from trunkdrop.access import audit
    from trunkdrop.access.models import AuditEntry

    vehicle_id, grant_id, token = _issue_live_grant(world)
    assert _redeem(world, vehicle_id, token, "cmd_1")
    assert not _redeem(world, vehicle_id, token, "cmd_2")
    assert not _redeem(world, vehicle_id, token, "cmd_3")
    with world.platform.uow() as s:
        refused = list(
            s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "grant.refused", AuditEntry.subject == grant_id
                )
            )
        )
        assert len(refused) == 2
        assert audit.verify(session=s).ok
