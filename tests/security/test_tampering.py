"""Tampered, confused and incomplete tokens are refused at redemption and leave the ledger empty."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pyseto
import pytest

from tests.security.common import issue_grant, ledger_rows, redeem
from tests.support import World
from trunkdrop.access.tokens import vehicle_assertion


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_bit_flipped_grant_is_refused_at_redemption(world: World) -> None:
    """A single flipped bit anywhere in payload, signature or footer: refused, nothing redeemed."""
    vehicle, delivery, attempt = world.ready_at_car()
    grant_id, token = issue_grant(world, vehicle["id"], attempt["id"], delivery["id"])
    key = world.handsets["driver"].public_key
    head, version, body, footer = token.split(".")
    raw = bytearray(_unb64(body))
    for i in (0, len(raw) // 3, len(raw) - 70, len(raw) - 1):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        tampered = ".".join([head, version, _b64(bytes(flipped)), footer])
        assert redeem(world, vehicle["id"], tampered, key, f"cmd_{i}") != "ok"
    foot = bytearray(_unb64(footer))
    foot[-2] ^= 0x01
    assert (
        redeem(world, vehicle["id"], ".".join([head, version, body, _b64(bytes(foot))]), key, "c")
        != "ok"
    )
    assert ledger_rows(world, grant_id) == 0
    assert redeem(world, vehicle["id"], token, key, "cmd_real") == "ok"


def test_grant_for_another_car_is_refused(world: World) -> None:
    """A valid grant for Anna's car presented for another car: grant_bad_signature."""
    vehicle, delivery, attempt = world.ready_at_car()
    other = world.link_car("ben")
    grant_id, token = issue_grant(world, vehicle["id"], attempt["id"], delivery["id"])
    key = world.handsets["driver"].public_key
    assert redeem(world, other["id"], token, key, "cmd_x") == "grant_bad_signature"
    assert ledger_rows(world, grant_id) == 0


def _platform_public_key(world: World) -> bytes:
    with world.platform.uow() as s:
        ring = world.platform.keyring(s)
        keys = ring.public_keys(now=world.clock.now(), longest_grant_s=600)
        return next(iter(keys.values()))


@pytest.mark.parametrize("kind", ["jwt_none", "jwt_hs256_public_key", "v4_local", "v3_public"])
def test_alg_confusion_tokens_are_refused(world: World, kind: str) -> None:
    """Tokens claiming another algorithm (alg none, HS256 keyed with the public key, symmetric
    v4.local keyed with the public key, ECDSA v3): refused, nothing redeemed."""
    vehicle, delivery, attempt = world.ready_at_car()
    grant_id, real = issue_grant(world, vehicle["id"], attempt["id"], delivery["id"])
    payload = _unb64(real.split(".")[2])[:-64]
    footer = real.split(".")[3]
    public = _platform_public_key(world)
    if kind.startswith("jwt"):
        alg = "none" if kind == "jwt_none" else "HS256"
        head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        signing_input = f"{head}.{_b64(payload)}"
        sig = (
            ""
            if alg == "none"
            else _b64(hmac.new(public, signing_input.encode(), hashlib.sha256).digest())
        )
        token = f"{signing_input}.{sig}"
    elif kind == "v4_local":
        key = pyseto.Key.new(version=4, purpose="local", key=public)
        token = bytes(
            pyseto.encode(
                key,
                payload,
                footer=_unb64(footer),
                implicit_assertion=vehicle_assertion(vehicle["id"]),
            )
        ).decode()
    else:
        token = f"v3.public.{_b64(payload + bytes(96))}.{footer}"
    key_text = world.handsets["driver"].public_key
    assert redeem(world, vehicle["id"], token, key_text, "cmd_confused") != "ok"
    assert ledger_rows(world, grant_id) == 0


def test_validly_signed_grant_missing_a_claim_is_refused(world: World) -> None:
    """A token signed with the platform's own key but lacking the cnf claim: claims_missing."""
    vehicle, delivery, attempt = world.ready_at_car()
    grant_id, real = issue_grant(world, vehicle["id"], attempt["id"], delivery["id"])
    claims = json.loads(_unb64(real.split(".")[2])[:-64])
    del claims["cnf"]
    with world.platform.uow() as s:
        ring = world.platform.keyring(s)
        signer = ring._signer  # the test plays an insider who can sign
        assert signer is not None
        from trunkdrop.access.tokens import _paseto_private

        token = bytes(
            pyseto.encode(
                _paseto_private(signer.private_key),
                json.dumps(claims).encode(),
                footer=json.dumps({"kid": signer.kid}).encode(),
                implicit_assertion=vehicle_assertion(vehicle["id"]),
            )
        ).decode()
    key = world.handsets["driver"].public_key
    assert redeem(world, vehicle["id"], token, key, "cmd_missing") == "grant_claims_missing"
    assert ledger_rows(world, grant_id) == 0
