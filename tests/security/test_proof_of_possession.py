"""Proof of possession: every access request is signed by the driver's registered handset,
approved by the driver's carrier, over a fresh server nonce, the action and the attempt;
grants carry the handset's key."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from sqlalchemy import update

from tests.security.common import (
    FAR,
    NEAR,
    access_with,
    grant_status,
    issue_grant,
    ledger_rows,
    offline_car_ready,
    offline_grant,
    present,
    redeem,
    refusal_reasons,
    refused,
    unlock_count,
)
from tests.support import Handset, World
from trunkdrop.access.tokens import b64u
from trunkdrop.devices.models import Device, DeviceNonce


def test_access_without_device_signature_is_refused(world: World) -> None:
    """An access request with no device proof: 409 proof_missing, audited, no unlock."""
    _, _, attempt = world.ready_at_car()
    body = {"position": {"latitude": NEAR[0], "longitude": NEAR[1]}}
    refused(
        world.post("driver", f"/v1/attempts/{attempt['id']}/access", body), 409, "proof_missing"
    )
    assert unlock_count(world, attempt["id"]) == 0
    assert "proof_missing" in refusal_reasons(world)


def test_reused_nonce_is_refused(world: World) -> None:
    """A nonce answers once: its second presentation is 409 nonce_used, even after a refusal."""
    _, _, attempt = world.ready_at_car()
    handset = world.handsets["driver"]
    nonce = world.challenge(attempt["id"])
    signature = handset.sign(nonce, attempt["id"])
    refused(
        access_with(world, attempt["id"], nonce=nonce, signature=signature, at=FAR),
        409,
        "driver_not_at_vehicle",
    )
    refused(access_with(world, attempt["id"], nonce=nonce, signature=signature), 409, "nonce_used")
    assert unlock_count(world, attempt["id"]) == 0
    assert "nonce_used" in refusal_reasons(world)
    world.ok(world.request_access(attempt["id"], NEAR), 202)  # a fresh challenge works
    assert unlock_count(world, attempt["id"]) == 1


def test_expired_nonce_is_refused(world: World) -> None:
    """A nonce older than its 60 s lifetime: 409 nonce_expired, no unlock."""
    _, _, attempt = world.ready_at_car()
    nonce = world.challenge(attempt["id"])
    world.clock.advance(61)
    signature = world.handsets["driver"].sign(nonce, attempt["id"])
    refused(
        access_with(world, attempt["id"], nonce=nonce, signature=signature), 409, "nonce_expired"
    )
    assert unlock_count(world, attempt["id"]) == 0


def test_expired_nonce_is_refused_as_expired_after_the_sweep_ran(world: World) -> None:
    """The workers' sweep keeps a run-out nonce for `nonce_retention_s`: still nonce_expired."""
    _, _, attempt = world.ready_at_car()
    nonce = world.challenge(attempt["id"])
    world.tick(70)
    signature = world.handsets["driver"].sign(nonce, attempt["id"])
    refused(
        access_with(world, attempt["id"], nonce=nonce, signature=signature), 409, "nonce_expired"
    )
    assert unlock_count(world, attempt["id"]) == 0


def nonce_kept(world: World, nonce: str) -> bool:
    with world.platform.uow() as session:
        return session.get(DeviceNonce, nonce) is not None


def test_sweep_forgets_a_nonce_only_after_its_retention(world: World) -> None:
    """A nonce run out longer than `nonce_retention_s` is deleted by the sweep, not before."""
    _, _, attempt = world.ready_at_car()
    nonce = world.challenge(attempt["id"])
    retention = world.platform.settings.nonce_retention_s
    world.until(world.clock.now() + timedelta(seconds=60 + retention - 5))
    assert nonce_kept(world, nonce)
    world.until(world.clock.now() + timedelta(seconds=10))
    assert not nonce_kept(world, nonce)


def test_unknown_nonce_is_refused(world: World) -> None:
    """A nonce the platform never issued: 409 nonce_unknown."""
    _, _, attempt = world.ready_at_car()
    forged = "bm90LWlzc3VlZC1ieS11cw"
    signature = world.handsets["driver"].sign(forged, attempt["id"])
    refused(
        access_with(world, attempt["id"], nonce=forged, signature=signature), 409, "nonce_unknown"
    )
    assert unlock_count(world, attempt["id"]) == 0


def test_nonce_for_another_device_is_refused(world: World) -> None:
    """A nonce issued to the driver's spare handset cannot be used by the main one: 409."""
    _, _, attempt = world.ready_at_car()
    spare = world.register_handset("driver")
    nonce = world.challenge(attempt["id"], device_id=spare.id)
    signature = world.handsets["driver"].sign(nonce, attempt["id"])
    refused(
        access_with(world, attempt["id"], nonce=nonce, signature=signature), 409, "nonce_mismatch"
    )
    assert unlock_count(world, attempt["id"]) == 0


def test_swapped_action_is_refused(world: World) -> None:
    """A signature over another action than trunk unlock: 403 proof_invalid, audited."""
    _, _, attempt = world.ready_at_car()
    nonce = world.challenge(attempt["id"])
    signature = world.handsets["driver"].sign(nonce, attempt["id"], action="doors:unlock")
    refused(
        access_with(world, attempt["id"], nonce=nonce, signature=signature), 403, "proof_invalid"
    )
    assert unlock_count(world, attempt["id"]) == 0
    assert "proof_invalid" in refusal_reasons(world)


def test_signature_from_another_device_is_refused(world: World) -> None:
    """A copy of the request signed on another phone (unregistered key): 403 proof_invalid."""
    _, _, attempt = world.ready_at_car()
    nonce = world.challenge(attempt["id"])
    signature = Handset().sign(nonce, attempt["id"])
    refused(
        access_with(world, attempt["id"], nonce=nonce, signature=signature), 403, "proof_invalid"
    )
    assert unlock_count(world, attempt["id"]) == 0


def test_another_drivers_device_is_refused(world: World) -> None:
    """Driver 1 using driver 2's handset id: 403 device_unknown at the challenge, no unlock."""
    _, _, attempt = world.ready_at_car()
    other = world.handsets["driver2"]
    response = world.post(
        "driver", f"/v1/attempts/{attempt['id']}/challenge", {"device_id": other.id}
    )
    refused(response, 403, "device_unknown")
    assert unlock_count(world, attempt["id"]) == 0


def test_revoked_device_is_refused_and_its_live_grant_dies(world: World) -> None:
    """After the driver revokes a handset: its live grant is revoked, the car refuses the grant,
    and the handset gets 403 device_revoked."""
    vehicle, _, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    handset = world.handsets["driver"]
    world.ok(world.post("driver", f"/v1/devices/{handset.id}/revoke"))
    assert grant_status(world, granted["grant_id"]) == "revoked"
    world.tick(2)  # the revocation reaches the car
    assert (
        present(world, vehicle, granted["grant_token"], handset, attempt["id"]) == "grant_revoked"
    )
    response = world.post(
        "driver", f"/v1/attempts/{attempt['id']}/challenge", {"device_id": handset.id}
    )
    refused(response, 403, "device_revoked")


def test_carrier_revokes_its_drivers_device_in_one_call(world: World) -> None:
    """The carrier revokes its driver's lost handset in one call; another carrier may not."""
    handset = world.handsets["driver"]
    refused(world.post("other-carrier", f"/v1/devices/{handset.id}/revoke"), 403, "forbidden")
    read = world.ok(world.post("carrier", f"/v1/devices/{handset.id}/revoke"))
    assert read["revoked_at"] is not None
    listed = {d["id"]: d for d in world.ok(world.get("carrier", "/v1/devices"))["data"]}
    assert listed[handset.id]["revoked_at"] is not None
    _, _, attempt = world.ready_at_car()
    refused(world.request_access(attempt["id"], NEAR), 403, "device_revoked")


def test_grant_carries_the_device_key(world: World) -> None:
    """The grant's cnf claim is the handset's public key (an OKP JWK)."""
    _, _, attempt = offline_car_ready(world)
    token = offline_grant(world, attempt["id"])["grant_token"]
    body = token.split(".")[2]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:-64])
    jwk = claims["cnf"]["jwk"]
    assert (jwk["kty"], jwk["crv"], jwk["x"]) == (
        "OKP",
        "Ed25519",
        world.handsets["driver"].public_key,
    )
    assert claims["device"] == world.handsets["driver"].id


def test_grant_presented_with_another_device_key_is_refused(world: World) -> None:
    """A grant bound to handset A redeemed on the proof of handset B: grant_wrong_device, no
    ledger row, and A can still use it."""
    vehicle, delivery, attempt = world.ready_at_car()
    grant_id, token = issue_grant(world, vehicle["id"], attempt["id"], delivery["id"])
    other = world.handsets["driver2"].public_key
    assert redeem(world, vehicle["id"], token, other, "cmd_copy") == "grant_wrong_device"
    assert ledger_rows(world, grant_id) == 0
    mine = world.handsets["driver"].public_key
    assert redeem(world, vehicle["id"], token, mine, "cmd_mine") == "ok"


def test_challenge_with_the_attempt_signs_one_access(world: World) -> None:
    """A handset named at the start gets its challenge with the attempt: signed, it opens the
    trunk once; presented again it is refused (nonce_used) and nothing more is unlocked."""
    _, _, stop = world.at_the_stop()
    handset = world.handsets["driver"]
    started = world.ok(world.start_attempt(stop, at=NEAR, device_id=handset.id), 201)
    challenge = started["challenge"]
    assert challenge["device_id"] == handset.id and challenge["attempt_id"] == started["id"]
    body = {
        "position": {"latitude": NEAR[0], "longitude": NEAR[1]},
        "device_id": handset.id,
        "nonce": challenge["nonce"],
        "signature": handset.sign(challenge["nonce"], started["id"]),
    }
    world.ok(world.post("driver", f"/v1/attempts/{started['id']}/access", body), 202)
    again = world.post("driver", f"/v1/attempts/{started['id']}/access", body)
    assert again.status_code == 409
    assert unlock_count(world, started["id"]) == 1


def test_revoked_handset_named_at_start_starts_nothing(world: World) -> None:
    """Naming a revoked handset at the start is 403 device_revoked and starts no attempt:
    the stop is still open, and a start without it then goes through."""
    _, _, stop = world.at_the_stop()
    handset = world.handsets["driver"]
    world.ok(world.post("driver", f"/v1/devices/{handset.id}/revoke"))
    refused(world.start_attempt(stop, at=NEAR, device_id=handset.id), 403, "device_revoked")
    assert world.next_stop()["attempt_id"] is None
    world.ok(world.start_attempt(stop), 201)


def test_new_handset_signs_only_after_its_carrier_approves(world: World) -> None:
    """A handset registered with the driver's API key is refused (403 device_not_approved,
    audited, no attempt started) until the driver's carrier approves it; the driver cannot
    approve their own, nor can another carrier."""
    _, _, stop = world.at_the_stop()
    fresh = world.register_handset("driver", approve=False)
    listed = {d["id"]: d for d in world.ok(world.get("carrier", "/v1/devices"))["data"]}
    assert listed[fresh.id]["approved_at"] is None
    refused(world.start_attempt(stop, at=NEAR, device_id=fresh.id), 403, "device_not_approved")
    assert world.next_stop()["attempt_id"] is None
    assert "device_not_approved" in refusal_reasons(world)
    refused(world.post("driver", f"/v1/devices/{fresh.id}/approve"), 403, "forbidden")
    refused(world.post("other-carrier", f"/v1/devices/{fresh.id}/approve"), 403, "forbidden")
    approved = world.ok(world.post("carrier", f"/v1/devices/{fresh.id}/approve"))
    assert approved["approved_by"] == world.ids["carrier"]
    started = world.ok(world.start_attempt(stop, at=NEAR, device_id=fresh.id), 201)
    nonce = started["challenge"]["nonce"]
    response = access_with(
        world, started["id"], nonce=nonce, signature=fresh.sign(nonce, started["id"]),
        device_id=fresh.id,
    )  # fmt: skip
    world.ok(response, 202)


def test_thief_with_the_api_key_cannot_enrol_a_handset(world: World) -> None:
    """A stolen phone carries the driver's API key: after the carrier revokes the phone, the
    thief registers a key pair of their own and is refused (403 device_not_approved) with no
    unlock queued; a revoked handset cannot be approved back either (409)."""
    _, _, attempt = world.ready_at_car()
    stolen = world.handsets["driver"]
    world.ok(world.post("carrier", f"/v1/devices/{stolen.id}/revoke"))
    mine = world.register_handset("driver", Handset(), approve=False)
    asked = world.post("driver", f"/v1/attempts/{attempt['id']}/challenge", {"device_id": mine.id})
    refused(asked, 403, "device_not_approved")
    refused(world.post("carrier", f"/v1/devices/{stolen.id}/approve"), 409, "device_revoked")
    assert unlock_count(world, attempt["id"]) == 0


def test_weak_device_key_is_refused_at_registration_and_at_every_check(world: World) -> None:
    """The identity point as a device key (any constant "signs" for it) is refused at
    registration (422); one already stored is refused at the access request (403
    proof_invalid) however it is "signed"."""
    identity = b64u(b"\x01" + bytes(31))
    forged = b64u(b"\x01" + bytes(63))  # R = identity, S = 0
    refused(world.post("driver", "/v1/devices", {"public_key": identity}), 422, "invalid_input")
    _, _, attempt = world.ready_at_car()
    with world.platform.uow() as s:
        s.execute(
            update(Device)
            .where(Device.id == world.handsets["driver"].id)
            .values(public_key=identity)
        )
    nonce = world.challenge(attempt["id"])
    refused(access_with(world, attempt["id"], nonce=nonce, signature=forged), 403, "proof_invalid")
    assert unlock_count(world, attempt["id"]) == 0
