"""Grant tokens: PASETO v4.public signatures and explicit claim checks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trunkdrop.access.tokens import (
    AUDIENCE,
    TRUNK_UNLOCK,
    GrantClaims,
    GrantInvalid,
    Keyring,
    SigningMaterial,
    claim_refusals,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def keyring(kid: str = "kid_a") -> Keyring:
    private = Ed25519PrivateKey.generate()
    return Keyring(signer=SigningMaterial(kid, private), public_keys={kid: private.public_key()})


def claims(**over: object) -> GrantClaims:
    base: dict[str, object] = {
        "iss": "trunkdrop",
        "sub": "veh_1",
        "aud": AUDIENCE,
        "scope": TRUNK_UNLOCK,
        "jti": "gr_1",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + timedelta(minutes=10),
        "attempt": "att_1",
        "delivery": "dlv_1",
        "driver": "dri_1",
        "geo_lat": 48.1,
        "geo_lon": 11.5,
        "geo_radius_m": 300,
        "device": "dev_1",
        "cnf": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    }
    base.update(over)
    return GrantClaims(**base)  # type: ignore[arg-type]


def test_signed_grant_verifies_for_its_car() -> None:
    """A grant signed by the current key verifies and returns its claims unchanged."""
    ring = keyring()
    token = ring.sign(claims())
    assert token.startswith("v4.public.")
    assert ring.verify(token, vehicle_id="veh_1") == claims()


def test_grant_for_another_car_fails_signature() -> None:
    """The car is bound into the signature: the same token presented for another car is refused."""
    ring = keyring()
    with pytest.raises(GrantInvalid) as e:
        ring.verify(ring.sign(claims()), vehicle_id="veh_2")
    assert e.value.code == "bad_signature"


@pytest.mark.parametrize("position", [12, 40, 80, -20])
def test_bit_flipped_grant_is_refused(position: int) -> None:
    """Any flipped character in the payload or signature breaks verification."""
    ring = keyring()
    token = ring.sign(claims())
    body = token.split(".")[2]
    i = position % len(body)
    flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
    tampered = ".".join([*token.split(".")[:2], flipped, token.split(".")[3]])
    with pytest.raises(GrantInvalid):
        ring.verify(tampered, vehicle_id="veh_1")


def test_grant_signed_by_unknown_key_is_refused() -> None:
    """A token from another issuer's key (same kid claimed) does not verify; an unknown kid is named."""
    mine, theirs = keyring("kid_a"), keyring("kid_a")
    with pytest.raises(GrantInvalid) as e:
        mine.verify(theirs.sign(claims()), vehicle_id="veh_1")
    assert e.value.code == "bad_signature"
    with pytest.raises(GrantInvalid) as e2:
        mine.verify(keyring("kid_b").sign(claims()), vehicle_id="veh_1")
    assert e2.value.code == "unknown_key"


@pytest.mark.parametrize(
    "token",
    [
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ2ZWhfMSJ9.",  # a JWT with alg none
        "v4.local.AAAA.eyJraWQiOiJraWRfYSJ9",  # symmetric PASETO
        "v3.public.AAAA.eyJraWQiOiJraWRfYSJ9",  # ECDSA PASETO
        "v4.public.AAAA",  # no footer
        "",
    ],
)
def test_tokens_not_v4_public_are_refused_before_parsing(token: str) -> None:
    """Only Ed25519 PASETO v4.public is accepted: alg none, local, v3 and truncated tokens are refused."""
    with pytest.raises(GrantInvalid):
        keyring().verify(token, vehicle_id="veh_1")


def test_grant_missing_a_claim_is_refused() -> None:
    """A validly signed token whose payload lacks a claim is refused by name."""
    raw = claims().to_json()
    del raw["exp"]
    with pytest.raises(GrantInvalid) as e:
        GrantClaims.from_json(raw)
    assert e.value.code == "claims_missing"


def test_claim_checks_pass_for_a_fresh_grant() -> None:
    """A grant for this car, trunk scope, inside its lifetime: no refusal."""
    assert (
        claim_refusals(
            claims(), issuer="trunkdrop", vehicle_id="veh_1", now=NOW, max_lifetime_s=600
        )
        == []
    )


@pytest.mark.parametrize(
    ("over", "now", "code"),
    [
        ({}, NOW + timedelta(minutes=10), "expired"),
        ({"nbf": NOW + timedelta(minutes=1)}, NOW, "not_yet_valid"),
        ({"scope": "doors:unlock"}, NOW, "wrong_scope"),
        ({"aud": "someone-else"}, NOW, "wrong_audience"),
        ({"iss": "evil"}, NOW, "wrong_issuer"),
        ({"sub": "veh_2"}, NOW, "wrong_vehicle"),
        ({"exp": NOW + timedelta(hours=2)}, NOW, "bad_lifetime"),
    ],
)
def test_each_claim_is_checked_explicitly(
    over: dict[str, object], now: datetime, code: str
) -> None:
    """Expiry, not-before, scope, audience, issuer, car and lifetime are each enforced."""
    assert code in claim_refusals(
        claims(**over), issuer="trunkdrop", vehicle_id="veh_1", now=now, max_lifetime_s=600
    )


def test_footer_kid_cannot_be_swapped() -> None:
    """The footer (key id) is signed: changing it breaks the token."""
    ring = keyring("kid_a")
    token = ring.sign(claims())
    head = ".".join(token.split(".")[:3])
    other_footer = (
        base64.urlsafe_b64encode(json.dumps({"kid": "kid_a", "x": 1}).encode())
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(GrantInvalid):
        ring.verify(f"{head}.{other_footer}", vehicle_id="veh_1")
