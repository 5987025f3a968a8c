"""Keys at rest and the audit trail: private keys only encrypted; every refusal audited in an
intact chain."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from tests.security.common import FAR, NEAR, access_with, refusal_reasons
from tests.support import Handset, World
from trunkdrop.access import audit
from trunkdrop.access import service as access
from trunkdrop.access.models import SigningKey
from trunkdrop.errors import Conflict


def test_private_keys_are_stored_encrypted(world: World) -> None:
    """The signing key's private half is PKCS#8-encrypted: unreadable without the passphrase."""
    with world.platform.uow() as s:
        world.platform.keyring(s)
    with world.platform.uow() as s:
        rows = list(s.query(SigningKey))
        assert rows
        for row in rows:
            assert row.private_key_encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
            with pytest.raises(TypeError):
                serialization.load_pem_private_key(row.private_key_encrypted, password=None)
            with pytest.raises(ValueError):
                serialization.load_pem_private_key(row.private_key_encrypted, password=b"guess")


def test_every_refusal_is_audited_and_the_chain_holds(world: World) -> None:
    """Missing proof, reused nonce, foreign signature, revoked device and a rule refusal each leave
    an audit entry with their reason; the hash chain verifies."""
    _, _, attempt = world.ready_at_car()
    body = {"position": {"latitude": NEAR[0], "longitude": NEAR[1]}}
    world.post("driver", f"/v1/attempts/{attempt['id']}/access", body)
    nonce = world.challenge(attempt["id"])
    sig = world.handsets["driver"].sign(nonce, attempt["id"])
    access_with(world, attempt["id"], nonce=nonce, signature=sig, at=FAR)
    access_with(world, attempt["id"], nonce=nonce, signature=sig)
    n2 = world.challenge(attempt["id"])
    access_with(world, attempt["id"], nonce=n2, signature=Handset().sign(n2, attempt["id"]))
    world.ok(world.post("driver", f"/v1/devices/{world.handsets['driver'].id}/revoke"))
    world.post(
        "driver",
        f"/v1/attempts/{attempt['id']}/challenge",
        {"device_id": world.handsets["driver"].id},
    )
    reasons = refusal_reasons(world)
    for code in (
        "proof_missing",
        "driver_not_at_vehicle",
        "nonce_used",
        "proof_invalid",
        "device_revoked",
    ):
        assert code in reasons, (code, reasons)
    with world.platform.uow() as s:
        assert audit.verify(session=s).ok


def test_rotation_with_another_passphrase_is_refused(world: World) -> None:
    """Rotating with a passphrase that does not open the current key (a shell without the
    service's setting) is refused (409 key_passphrase_mismatch) and changes nothing: the
    service could not have decrypted the new key."""
    with world.platform.uow() as s:
        current = world.platform.keyring(s).current_kid
    with pytest.raises(Conflict) as refused, world.platform.uow() as s:
        access.rotate_signing_key(session=s, passphrase="a-typo", now=world.clock.now())
    assert refused.value.code == "key_passphrase_mismatch"
    with world.platform.uow() as s:
        rows = list(s.query(SigningKey))
    assert [(r.kid, r.retired_at) for r in rows] == [(current, None)]
