"""Grant tokens: PASETO v4.public (Ed25519) with every claim checked explicitly.

A grant is bound to its car twice: as the `sub` claim and as PASETO's implicit
assertion, so a token presented for another car fails its signature check.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import pyseto
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

AUDIENCE = "trunkdrop:vehicle"
TRUNK_UNLOCK = "trunk:unlock"
TOKEN_PREFIX = "v4.public."  # noqa: S105 - a format prefix, not a secret
PROOF_CONTEXT = b"trunkdrop-device-proof-v1"
PROXIMITY_CONTEXT = b"trunkdrop-handset-nearby-v1"


class GrantInvalid(Exception):
    """The token is not a valid grant; `code` says which check failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class GrantClaims:
    iss: str
    sub: str  # vehicle id
    aud: str
    scope: str
    jti: str
    iat: datetime
    nbf: datetime
    exp: datetime
    attempt: str
    delivery: str
    driver: str
    geo_lat: float
    geo_lon: float
    geo_radius_m: int
    device: str  # the driver device's id
    cnf: str  # the driver device's Ed25519 public key (raw, base64url): proof of possession

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        for k in ("iat", "nbf", "exp"):
            raw[k] = raw[k].isoformat()
        # RFC 7800 confirmation claim, the key as an OKP JWK (RFC 8037).
        raw["cnf"] = {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": self.cnf}}
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> GrantClaims:
        expected = set(cls.__dataclass_fields__)
        missing = expected - raw.keys()
        if missing:
            raise GrantInvalid(
                "claims_missing", f"grant lacks claims: {', '.join(sorted(missing))}"
            )
        unknown = raw.keys() - expected
        if unknown:
            raise GrantInvalid(
                "claims_unknown", f"grant has unknown claims: {', '.join(sorted(unknown))}"
            )
        try:
            times = {k: datetime.fromisoformat(raw[k]) for k in ("iat", "nbf", "exp")}
            if any(t.tzinfo is None for t in times.values()):
                raise ValueError("naive time")
            return cls(
                iss=str(raw["iss"]),
                sub=str(raw["sub"]),
                aud=str(raw["aud"]),
                scope=str(raw["scope"]),
                jti=str(raw["jti"]),
                attempt=str(raw["attempt"]),
                delivery=str(raw["delivery"]),
                driver=str(raw["driver"]),
                geo_lat=float(raw["geo_lat"]),
                geo_lon=float(raw["geo_lon"]),
                geo_radius_m=int(raw["geo_radius_m"]),
                device=str(raw["device"]),
                cnf=_cnf_key(raw["cnf"]),
                **times,
            )
        except (TypeError, ValueError, KeyError) as e:
            raise GrantInvalid("claims_malformed", "grant claims have the wrong types") from e


def _cnf_key(cnf: Any) -> str:
    jwk = cnf["jwk"]
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("the confirmation key is not an Ed25519 public key")
    return str(jwk["x"])


def vehicle_assertion(vehicle_id: str) -> bytes:
    return f"trunkdrop:vehicle:{vehicle_id}".encode()


@dataclass(frozen=True)
class SigningMaterial:
    kid: str
    private_key: Ed25519PrivateKey


class Keyring:
    """Public keys by id for verifying, and the one current private key for signing.

    A retired key (`retired`: key id -> when it stopped signing) verifies only grants it
    signed before then, and is handed to cars only until its last such grant has expired
    (`public_keys`): a retired key is often a leaked one."""

    def __init__(
        self,
        *,
        signer: SigningMaterial | None,
        public_keys: dict[str, Ed25519PublicKey],
        retired: dict[str, datetime] | None = None,
    ):
        self._signer = signer
        self._public = dict(public_keys)
        self._retired = dict(retired or {})
        self._paseto_public = {kid: _paseto_public(pk) for kid, pk in public_keys.items()}
        self._paseto_signer = _paseto_private(signer.private_key) if signer else None

    @property
    def current_kid(self) -> str | None:
        return self._signer.kid if self._signer else None

    def knows(self, kid: str) -> bool:
        return kid in self._public

    def public_keys(self, *, now: datetime, longest_grant_s: int) -> dict[str, bytes]:
        """The raw Ed25519 public keys by id: what a car that verifies grants itself holds.

        A retired key stays in the set while a grant it signed may still be live
        (`longest_grant_s` after it retired), then leaves it: the workers give cars the
        smaller set, and from then on the car refuses anything that key signs."""
        return {
            kid: pk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            for kid, pk in self._public.items()
            if kid not in self._retired
            or now < self._retired[kid] + timedelta(seconds=longest_grant_s)
        }

    def sign(self, claims: GrantClaims) -> str:
        if self._signer is None or self._paseto_signer is None:
            raise RuntimeError("no signing key loaded")
        token = pyseto.encode(
            self._paseto_signer,
            payload=json.dumps(claims.to_json(), separators=(",", ":")).encode(),
            footer=json.dumps({"kid": self._signer.kid}, separators=(",", ":")).encode(),
            implicit_assertion=vehicle_assertion(claims.sub),
        )
        return bytes(token).decode()

    def verify(self, token: str, *, vehicle_id: str) -> GrantClaims:
        """Check the signature (Ed25519 only) and the token's structure; claims come next."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 4096:
            # v4.public is Ed25519 by definition: anything else is refused before parsing.
            raise GrantInvalid("token_format", "grant is not a PASETO v4.public token")
        parts = token.split(".")
        if len(parts) != 4:
            raise GrantInvalid("token_format", "grant token has no key id footer")
        try:
            footer = json.loads(pyseto.utils.base64url_decode(parts[3]))
            kid = footer["kid"]
        except Exception as e:
            raise GrantInvalid("token_format", "grant token footer is unreadable") from e
        key = self._paseto_public.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise GrantInvalid("unknown_key", "grant was signed with an unknown key")
        try:
            decoded = pyseto.decode(key, token, implicit_assertion=vehicle_assertion(vehicle_id))
            payload = decoded.payload
            raw = json.loads(payload if isinstance(payload, bytes) else json.dumps(payload))
        except Exception as e:
            raise GrantInvalid(
                "bad_signature", "grant signature does not verify for this car"
            ) from e
        if not isinstance(raw, dict):
            raise GrantInvalid("claims_malformed", "grant claims are not an object")
        claims = GrantClaims.from_json(raw)
        retired = self._retired.get(kid)
        # A forger can date a token back (iat ≤ retirement) but its lifetime then ends
        # within one grant lifetime of the retirement: refused as expired after that.
        if retired is not None and claims.iat > retired:
            raise GrantInvalid("key_retired", "grant was signed with a key after it was retired")
        return claims


def claim_refusals(
    claims: GrantClaims,
    *,
    issuer: str,
    vehicle_id: str,
    now: datetime,
    max_lifetime_s: int,
    device_key: str | None = None,
) -> list[str]:
    """Every claim check that fails (empty: the claims allow opening this trunk now).

    `device_key` is the key that just proved possession; it must be the grant's `cnf` key.
    """
    found = []
    if device_key is not None and not hmac.compare_digest(claims.cnf, device_key):
        found.append("wrong_device")
    if claims.iss != issuer:
        found.append("wrong_issuer")
    if claims.aud != AUDIENCE:
        found.append("wrong_audience")
    if claims.sub != vehicle_id:
        found.append("wrong_vehicle")
    if claims.scope != TRUNK_UNLOCK:
        found.append("wrong_scope")
    if now < claims.nbf:
        found.append("not_yet_valid")
    if now >= claims.exp:
        found.append("expired")
    if (claims.exp - claims.iat).total_seconds() > max_lifetime_s or claims.exp <= claims.nbf:
        found.append("bad_lifetime")
    return found


def _paseto_private(key: Ed25519PrivateKey) -> Any:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pyseto.Key.new(version=4, purpose="public", key=pem)


def _paseto_public(key: Ed25519PublicKey) -> Any:
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pyseto.Key.new(version=4, purpose="public", key=pem)


# -- proof of possession -------------------------------------------------------------------
def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    """Strict base64url (no padding); ValueError on anything else."""
    if not isinstance(text, str) or len(text) > 200:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise ValueError("not base64url") from e


def proof_message(*, nonce: str, action: str, attempt_id: str) -> bytes:
    """What a driver's device signs: a fresh nonce, the one action it asks for, the attempt.

    Length-prefixed so that no two different triples give the same bytes.
    """
    parts = [PROOF_CONTEXT, nonce.encode(), action.encode(), attempt_id.encode()]
    return b"".join(len(p).to_bytes(2, "big") + p for p in parts)


def proximity_message(*, nonce: str, vehicle: str) -> bytes:
    """What a handset signs to prove to a car over the short-range link that it is beside
    it: the car's own fresh nonce and the car's id at its maker, length-prefixed like
    `proof_message` under a context of its own (a platform proof is never a car proof)."""
    parts = [PROXIMITY_CONTEXT, nonce.encode(), vehicle.encode()]
    return b"".join(len(p).to_bytes(2, "big") + p for p in parts)


def device_public_key(text: str) -> Ed25519PublicKey:
    """A device key as sent by the handset: 32 raw Ed25519 bytes, base64url, spelled one way
    only, and a point a key pair can have (see `strong_ed25519_point`)."""
    raw = unb64u(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    if b64u(raw) != text:
        # The last character's spare bits are ignored by the decoder: without this, one key
        # could be registered twice under two spellings.
        raise ValueError("not canonical base64url")
    if not strong_ed25519_point(raw):
        raise ValueError("not a usable Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


# Ed25519 (RFC 8032): the field, the curve constant, the order of the base point's group.
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_L = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)


def _add(a: _Point, b: _Point) -> _Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa, bb = (y1 - x1) * (y2 - x2) % _P, (y1 + x1) * (y2 + x2) % _P
    cc, dd = 2 * t1 * t2 * _D % _P, 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


@functools.lru_cache(maxsize=4096)
def strong_ed25519_point(raw: bytes) -> bool:
    """Whether 32 bytes encode a point of the prime-order group canonically, as every public
    key made from a private one does.

    A small-order point (the identity, for one) verifies a constant "signature" for every
    message: a device registered with one would sign without a private key, and its grants
    would open an offline car for whoever copied the token. OpenSSL's verify does not refuse
    such keys, so they are refused here, at registration and before every check.
    """
    if len(raw) != 32:
        return False
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        return False  # non-canonical encoding
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        if sign:
            return False
        x = 0
    else:
        x = pow(x2, (_P + 3) // 8, _P)
        if (x * x - x2) % _P:
            x = x * _SQRT_M1 % _P
        if (x * x - x2) % _P:
            return False  # not on the curve
        if x & 1 != sign:
            x = _P - x
    if x == 0 and y == 1:
        return False  # the identity: in every subgroup, and the worst key of all
    point: _Point = (x, y, 1, x * y % _P)
    # [L]P is the identity exactly when P lies in the prime-order group (no torsion part).
    acc: _Point = (0, 1, 1, 0)
    scalar = _L
    while scalar:
        if scalar & 1:
            acc = _add(acc, point)
        point = _add(point, point)
        scalar >>= 1
    return acc[0] % _P == 0 and (acc[1] - acc[2]) % _P == 0


def signature_valid(*, public_key: str, message: bytes, signature: str) -> bool:
    try:
        key = device_public_key(public_key)
        sig = unb64u(signature)
        if len(sig) != 64:
            return False
        key.verify(sig, message)
    except (ValueError, InvalidSignature):
        return False
    return True
