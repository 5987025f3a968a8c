"""No secrets in logs: with every logger at DEBUG, a full delivery, an offline grant and the
error cases leave no token, nonce signature or key material in the logs or the error bodies."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import serialization

from tests.security.common import FAR, NEAR, access_with, offline_car_ready, offline_grant, present
from tests.support import Handset, World
from trunkdrop.access.models import SigningKey
from trunkdrop.access.tokens import b64u


def test_no_token_signature_or_key_in_debug_logs_or_error_bodies(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Tokens, device signatures, private keys and the key passphrase never reach a log line or
    an error body, even at DEBUG with SQL logging on."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    secrets: list[str] = []
    bodies: list[str] = []
    try:
        # A full online delivery.
        vehicle, _, attempt = world.ready_at_car()
        handset = world.handsets["driver"]
        nonce = world.challenge(attempt["id"])
        signature = handset.sign(nonce, attempt["id"])
        secrets.append(signature)
        world.ok(access_with(world, attempt["id"], nonce=nonce, signature=signature), 202)
        world.tick(20)
        world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
        world.platform.simulator.close_trunk(
            vehicle["brand"], vehicle["external_id"], world.clock.now()
        )
        world.tick(30)
        # Error cases: a replayed signature, a copy signed elsewhere, a bad signature.
        bodies.append(access_with(world, attempt["id"], nonce=nonce, signature=signature).text)
        car2, _, attempt2 = offline_car_ready(world)
        n2 = world.challenge(attempt2["id"])
        stolen = Handset().sign(n2, attempt2["id"])
        secrets.append(stolen)
        bodies.append(access_with(world, attempt2["id"], nonce=n2, signature=stolen).text)
        n3 = world.challenge(attempt2["id"])
        far_sig = handset.sign(n3, attempt2["id"])
        secrets.append(far_sig)
        bodies.append(access_with(world, attempt2["id"], nonce=n3, signature=far_sig, at=FAR).text)
        # An offline grant, presented well and badly to the car.
        granted = offline_grant(world, attempt2["id"])
        token = granted["grant_token"]
        secrets += [token, token.split(".")[2], token.split(".")[2][-86:]]
        assert present(world, car2, token, Handset(), attempt2["id"]) == "proof_invalid"
        assert present(world, car2, token[:-4] + "AAAA", handset, attempt2["id"]) != "opened"
        assert present(world, car2, token, handset, attempt2["id"]) == "opened"
        world.tick(4)
        bodies.append(world.request_access(attempt2["id"], NEAR).text)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    # Key material: the handsets' private keys, the platform's signing key, the passphrase.
    for h in world.handsets.values():
        raw = h.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        secrets += [b64u(raw), raw.hex()]
    with world.platform.uow() as s:
        ring = world.platform.keyring(s)
        signer = ring._signer
        assert signer is not None
        raw = signer.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        secrets += [b64u(raw), raw.hex()]
        for row in s.query(SigningKey):
            secrets.append(row.private_key_encrypted.decode().splitlines()[1])
    secrets.append(world.platform.settings.key_passphrase.get_secret_value())
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert len(caplog.records) > 50  # the flow really ran with logging on
    assert any("sqlalchemy" in r.name for r in caplog.records)
    for secret in secrets:
        assert secret not in logged, f"a secret of {len(secret)} chars is in the logs"
        for body in bodies:
            assert secret not in body
    assert "PRIVATE KEY" not in logged
    assert "v4.public." not in logged
