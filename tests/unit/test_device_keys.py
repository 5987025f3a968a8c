"""Device keys: only a canonical encoding of a point a key pair can have is accepted, so no
handset can "sign" without a private key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trunkdrop.access import tokens

# The eight points of small order (libsodium's list), and the all-zero bytes.
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
]
P = 2**255 - 19


def public_raw() -> bytes:
    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def with_order_two_part(raw: bytes) -> bytes:
    """The key's point plus the point of order two, (0, -1): on the curve, not in the group.

    Adding (0, -1) to (x, y) gives (-x, -y)."""
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    return ((P - y) | ((sign ^ 1) << 255)).to_bytes(32, "little")


@pytest.mark.parametrize("encoded", SMALL_ORDER)
def test_small_order_device_key_is_refused(encoded: str) -> None:
    """A small-order point verifies a constant signature for any message: refused."""
    with pytest.raises(ValueError):
        tokens.device_public_key(tokens.b64u(bytes.fromhex(encoded)))


def test_forged_signature_under_the_identity_key_is_not_valid() -> None:
    """R = identity, S = 0 under the identity key (which OpenSSL accepts for every message)
    is not a valid proof."""
    identity = tokens.b64u(bytes.fromhex(SMALL_ORDER[0]))
    forged = tokens.b64u(bytes.fromhex(SMALL_ORDER[0]) + bytes(32))
    assert not tokens.signature_valid(public_key=identity, message=b"any", signature=forged)


def test_key_with_a_torsion_part_is_refused_and_a_real_key_accepted() -> None:
    """A real key's point plus a point of order two is refused; the real key is accepted."""
    raw = public_raw()
    tokens.device_public_key(tokens.b64u(raw))
    assert tokens.strong_ed25519_point(raw)
    assert not tokens.strong_ed25519_point(with_order_two_part(raw))


def test_non_canonical_encodings_are_refused() -> None:
    """The same key spelled a second way (spare base64url bits set, or y ≥ p) is refused."""
    text = tokens.b64u(public_raw())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(text[-1])
    respelled = text[:-1] + alphabet[last ^ 1]  # the last character's low bits are spare
    assert tokens.unb64u(respelled) == tokens.unb64u(text)
    with pytest.raises(ValueError):
        tokens.device_public_key(respelled)
    assert not tokens.strong_ed25519_point((P + 1).to_bytes(32, "little"))
