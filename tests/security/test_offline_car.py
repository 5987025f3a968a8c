"""Offline car mode: a car that checks grants itself (sim-dagny) opens with no platform
connection after challenge-response with the driver's handset, refuses copies, replays,
expired grants and wrong places, and its reports are reconciled when it is back."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.security.common import (
    NEAR,
    grant_status,
    ledger_rows,
    offline_car_ready,
    offline_grant,
    present,
    trunk_open,
)
from tests.support import HOME, OFFICE, Handset, World
from trunkdrop.access.models import AuditEntry
from trunkdrop.incidents.models import Incident


def _offline(world: World, vehicle: dict[str, Any]) -> None:
    world.platform.simulator.go_offline(vehicle["brand"], vehicle["external_id"], world.clock.now())
    world.tick(2)


def _online(world: World, vehicle: dict[str, Any]) -> None:
    world.platform.simulator.come_online(
        vehicle["brand"], vehicle["external_id"], world.clock.now()
    )
    world.tick(4)


def test_offline_car_opens_with_a_valid_grant_and_no_platform_connection(world: World) -> None:
    """No platform connection: the car verifies the grant and the handset's signature over its own
    nonce and opens; when back online its reports are reconciled and the delivery completes."""
    vehicle, delivery, attempt = offline_car_ready(world)
    _offline(world, vehicle)
    granted = offline_grant(world, attempt["id"])
    handset = world.handsets["driver"]
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "opened"
    assert trunk_open(world, vehicle) is True
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    world.platform.simulator.close_trunk(
        vehicle["brand"], vehicle["external_id"], world.clock.now()
    )
    world.tick(4)
    assert ledger_rows(world, granted["grant_id"]) == 0  # the platform knows nothing yet
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "unlocking"
    world.clock.advance(20 * 60)
    _online(world, vehicle)
    assert ledger_rows(world, granted["grant_id"]) == 1
    assert grant_status(world, granted["grant_id"]) == "redeemed"
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome"]) == ("delivered", "delivered_trunk")
    assert world.ok(world.get("operator", "/v1/incidents"))["data"] == []


def test_offline_car_refuses_a_grant_copied_to_another_device(world: World) -> None:
    """The grant copied to another phone: that phone cannot sign for the grant's key; refused."""
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    thief = Handset()
    verdict = present(world, vehicle, granted["grant_token"], thief, attempt["id"])
    assert verdict == "proof_invalid"
    assert trunk_open(world, vehicle) is False
    assert (
        present(world, vehicle, granted["grant_token"], world.handsets["driver"], attempt["id"])
        == "opened"
    )


def test_offline_car_refuses_a_replayed_challenge_answer(world: World) -> None:
    """A recorded (nonce, signature) exchange replayed to the car: the car nonce answers once."""
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    sim, handset = world.platform.simulator, world.handsets["driver"]
    nonce = sim.car_challenge(vehicle["brand"], vehicle["external_id"], world.clock.now())
    signature = handset.sign(nonce, attempt["id"])
    args = {"token": granted["grant_token"], "nonce": nonce, "signature": signature}
    assert (
        sim.present_grant(vehicle["brand"], vehicle["external_id"], now=world.clock.now(), **args)
        == "opened"
    )
    sim.close_trunk(vehicle["brand"], vehicle["external_id"], world.clock.now())
    again = sim.present_grant(
        vehicle["brand"], vehicle["external_id"], now=world.clock.now(), **args
    )
    assert again == "nonce_unknown"
    assert trunk_open(world, vehicle) is False


def test_offline_car_refuses_a_second_use_of_a_grant(world: World) -> None:
    """A fresh challenge does not revive a used grant: the car's own used-id list refuses it."""
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    _offline(world, vehicle)
    handset = world.handsets["driver"]
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "opened"
    world.platform.simulator.close_trunk(
        vehicle["brand"], vehicle["external_id"], world.clock.now()
    )
    assert (
        present(world, vehicle, granted["grant_token"], handset, attempt["id"])
        == "grant_already_used"
    )
    assert trunk_open(world, vehicle) is False


def test_offline_car_refuses_outside_its_geofence(world: World) -> None:
    """The car was moved home while out of reach (the platform never heard): it refuses."""
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    _offline(world, vehicle)
    world.platform.simulator.park(
        vehicle["brand"], vehicle["external_id"], *HOME, world.clock.now()
    )
    verdict = present(
        world, vehicle, granted["grant_token"], world.handsets["driver"], attempt["id"]
    )
    assert verdict == "outside_geofence"
    assert trunk_open(world, vehicle) is False


def test_offline_car_clock_set_back_does_not_revive_an_expired_grant(world: World) -> None:
    """Eleven minutes later the grant has expired; setting the car's real-time clock back 15 min
    changes nothing: the car counts time on its monotonic clock since its last sync."""
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    _offline(world, vehicle)
    world.clock.advance(11 * 60)
    world.platform.simulator.configure(vehicle["brand"], vehicle["external_id"], clock_skew_s=-900)
    verdict = present(
        world, vehicle, granted["grant_token"], world.handsets["driver"], attempt["id"]
    )
    assert verdict == "grant_expired"
    assert trunk_open(world, vehicle) is False


def test_offline_car_refuses_a_grant_from_an_unknown_key(world: World) -> None:
    """A grant signed by a key the car was never provisioned with (a forger's): refused."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from trunkdrop.access.tokens import GrantClaims, Keyring, SigningMaterial

    vehicle, _, attempt = offline_car_ready(world)
    real = offline_grant(world, attempt["id"])
    forger_key = Ed25519PrivateKey.generate()
    with world.platform.uow() as s:
        kid = world.platform.keyring(s).current_kid or ""
    forger = Keyring(
        signer=SigningMaterial(kid, forger_key), public_keys={kid: forger_key.public_key()}
    )
    body = real["grant_token"].split(".")[2]
    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:-64])
    raw["jti"] = "gr_forged"
    forged = forger.sign(GrantClaims.from_json(raw))
    verdict = present(world, vehicle, forged, world.handsets["driver"], attempt["id"])
    assert verdict == "grant_bad_signature"
    assert trunk_open(world, vehicle) is False


def test_second_use_reported_by_a_car_opens_an_incident(world: World) -> None:
    """A car that lost its used-id list (reset) opens twice for one grant: reconciliation keeps
    one ledger row and opens a critical grant_reused incident."""
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    _offline(world, vehicle)
    handset, sim = world.handsets["driver"], world.platform.simulator
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "opened"
    sim.close_trunk(vehicle["brand"], vehicle["external_id"], world.clock.now())
    sim.car(vehicle["brand"], vehicle["external_id"]).used_grants.clear()  # the car was reset
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "opened"
    sim.close_trunk(vehicle["brand"], vehicle["external_id"], world.clock.now())
    _online(world, vehicle)
    assert ledger_rows(world, granted["grant_id"]) == 1
    with world.platform.uow() as s:
        reused = s.scalar(
            select(func.count())
            .select_from(Incident)
            .where(Incident.kind == "grant_reused", Incident.severity == "critical")
        )
    assert reused == 1


def test_offline_car_needs_the_device_proof_at_the_platform_too(world: World) -> None:
    """Getting an offline grant needs the same signed challenge: no proof, no token."""
    _, _, attempt = offline_car_ready(world)
    body = {"position": {"latitude": NEAR[0], "longitude": NEAR[1]}}
    response = world.post("driver", f"/v1/attempts/{attempt['id']}/access", body)
    assert response.status_code == 409
    assert "v4.public" not in response.text


def _rotate(world: World) -> str:
    from trunkdrop.access import service as access

    with world.platform.uow() as s:
        return access.rotate_signing_key(
            session=s,
            passphrase=world.platform.settings.key_passphrase.get_secret_value(),
            now=world.clock.now(),
        ).kid


def _kid(token: str) -> str:
    footer = token.split(".")[3]
    return str(json.loads(base64.urlsafe_b64decode(footer + "=" * (-len(footer) % 4)))["kid"])


def test_offline_car_is_provisioned_with_a_rotated_key(world: World) -> None:
    """After a key rotation (as `trunkdrop keys rotate` does, from another process) the
    workers sign with the new key and give the car the new key set: the grant opens it."""
    vehicle, _, attempt = offline_car_ready(world)
    new_kid = _rotate(world)
    world.tick(2)
    granted = offline_grant(world, attempt["id"])
    assert _kid(granted["grant_token"]) == new_kid
    verdict = present(
        world, vehicle, granted["grant_token"], world.handsets["driver"], attempt["id"]
    )
    assert verdict == "opened"
    with world.platform.uow() as s:
        provisioned = s.scalars(
            select(AuditEntry.subject).where(AuditEntry.action == "vehicle.keys_provisioned")
        ).all()
    assert provisioned == [vehicle["id"]]


def test_offline_car_out_of_reach_at_rotation_refuses_new_grants_until_provisioned(
    world: World,
) -> None:
    """A car in a garage when keys rotate cannot be given the new key: it refuses grants
    signed with it (fails closed) and is provisioned as soon as it is back in reach."""
    vehicle, _, attempt = offline_car_ready(world)
    _offline(world, vehicle)
    _rotate(world)
    world.tick(4)
    granted = offline_grant(world, attempt["id"])
    handset = world.handsets["driver"]
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) != "opened"
    assert trunk_open(world, vehicle) is False
    _online(world, vehicle)
    sim_car = world.platform.simulator.car(vehicle["brand"], vehicle["external_id"])
    assert sim_car.grant_keys is not None
    assert _kid(granted["grant_token"]) in sim_car.grant_keys.public_keys


def test_offline_attempt_whose_car_stays_silent_is_left_to_the_car_with_one_incident(
    world: World,
) -> None:
    """A grant handed over at a car out of reach that stays silent: nothing is failed (the
    platform cannot know the trunk stayed shut); once the grant expired, one incident, and the
    car's late reports still settle the delivery."""
    vehicle, delivery, attempt = offline_car_ready(world)
    _offline(world, vehicle)
    granted = offline_grant(world, attempt["id"])
    handset = world.handsets["driver"]
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "opened"
    world.platform.simulator.close_trunk(
        vehicle["brand"], vehicle["external_id"], world.clock.now()
    )
    world.clock.advance(16 * 60)
    world.tick(6)
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "unlocking"
    with world.platform.uow() as s:
        kinds = s.scalars(select(Incident.kind).where(Incident.attempt_id == attempt["id"])).all()
    assert kinds == ["offline_report_missing"]
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    _online(world, vehicle)
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome"]) == ("delivered", "delivered_trunk")


def test_offline_deposit_the_car_never_confirms_opens_one_incident(world: World) -> None:
    """The driver confirmed the deposit at a car out of reach that stays silent: one incident
    for the operator, the attempt is not failed (the parcel is said to be in the trunk)."""
    vehicle, _, attempt = offline_car_ready(world)
    _offline(world, vehicle)
    granted = offline_grant(world, attempt["id"])
    handset = world.handsets["driver"]
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "opened"
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    world.clock.advance(16 * 60)
    world.tick(6)
    with world.platform.uow() as s:
        kinds = s.scalars(select(Incident.kind).where(Incident.attempt_id == attempt["id"])).all()
    assert kinds == ["offline_report_missing"]
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "unlocking"


def test_retired_key_signs_nothing_after_rotation(world: World) -> None:
    """A key rotated out (believed leaked) verifies no grant it signs after retiring: the
    platform refuses it at once (key_retired); once its last real grant has expired the
    workers give cars the smaller key set and the car refuses it too."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from trunkdrop.access.models import SigningKey
    from trunkdrop.access.tokens import GrantClaims, GrantInvalid, Keyring, SigningMaterial

    vehicle, _, _ = offline_car_ready(world)
    platform = world.platform
    passphrase = platform.settings.key_passphrase.get_secret_value()
    with platform.uow() as s:
        old = s.scalars(select(SigningKey)).one()
        old_kid, old_pem = old.kid, old.private_key_encrypted
    _rotate(world)
    world.tick(2)
    leaked = serialization.load_pem_private_key(old_pem, password=passphrase.encode())
    assert isinstance(leaked, Ed25519PrivateKey)
    thief, thief_ring = Handset(), Keyring(signer=SigningMaterial(old_kid, leaked), public_keys={})

    def minted() -> str:
        now = world.clock.now()
        return thief_ring.sign(
            GrantClaims(
                iss=platform.settings.grant_issuer, sub=vehicle["id"], aud="trunkdrop:vehicle",
                scope="trunk:unlock", jti=f"gr_m{now.timestamp():.0f}", iat=now, nbf=now,
                exp=now + timedelta(minutes=5), attempt="att_x", delivery="dlv_x", driver="drv_x",
                geo_lat=OFFICE[0], geo_lon=OFFICE[1], geo_radius_m=300, device="dev_x",
                cnf=thief.public_key,
            )
        )  # fmt: skip

    with platform.uow() as s:
        ring = platform.keyrings.refresh_if_rotated(s, now=world.clock.now())
    with pytest.raises(GrantInvalid) as refused_now:
        ring.verify(minted(), vehicle_id=vehicle["id"])
    assert refused_now.value.code == "key_retired"
    world.tick(platform.settings.grant_lifetime_s + 4)  # the old key's last grant expired
    car = platform.simulator.car(vehicle["brand"], vehicle["external_id"])
    assert car.grant_keys is not None and old_kid not in car.grant_keys.public_keys
    token = minted()
    assert present(world, vehicle, token, thief, "att_x") != "opened"
    assert trunk_open(world, vehicle) is False


def _offline_delivery_done(world: World) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """At a car out of reach: the handset opens it, the parcel goes in, the lid is shut;
    the car has reported nothing yet. Returns (vehicle, delivery, attempt)."""
    vehicle, delivery, attempt = offline_car_ready(world)
    platform = world.platform
    platform.simulator.go_offline(vehicle["brand"], vehicle["external_id"], world.clock.now())
    world.tick(2)
    granted = offline_grant(world, attempt["id"])
    handset = world.handsets["driver"]
    assert present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "opened"
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    platform.simulator.close_trunk(vehicle["brand"], vehicle["external_id"], world.clock.now())
    return vehicle, delivery, attempt


def test_a_grant_used_before_its_revocation_raises_no_incident(world: World) -> None:
    """The handset is revoked after it opened the offline car: once the car reports, the
    delivery is delivered and no revoked_grant_used_offline incident is raised (the use
    came first)."""
    vehicle, delivery, _ = _offline_delivery_done(world)
    world.tick(4)
    world.ok(world.post("carrier", f"/v1/devices/{world.handsets['driver'].id}/revoke"))
    world.clock.advance(20 * 60)
    _online(world, vehicle)
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome"]) == ("delivered", "delivered_trunk")
    with world.platform.uow() as s:
        assert "revoked_grant_used_offline" not in list(s.scalars(select(Incident.kind)))


def test_a_position_before_the_cars_trunk_reports_keeps_the_delivery(world: World) -> None:
    """The owner drives off after the parcel went in, and the car's position arrives before
    its saved-up trunk reports: the deposited attempt is not failed as vehicle_moved; the
    reports then settle the delivery as delivered."""
    vehicle, delivery, attempt = _offline_delivery_done(world)
    world.clock.advance(600)
    world.add_party("carmaker", "dagny-cloud", brand=vehicle["brand"])
    world.ok(
        world.post(
            "dagny-cloud",
            "/v1/vehicle-events",
            {
                "event_id": "drove-off",
                "vehicle_id": vehicle["external_id"],
                "type": "position",
                "occurred_at": world.clock.now().isoformat(),
                "latitude": HOME[0],
                "longitude": HOME[1],
            },
        ),
        202,
    )
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] != "failed"
    _online(world, vehicle)
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome"]) == ("delivered", "delivered_trunk")
