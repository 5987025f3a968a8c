"""Grant tokens: PASETO v4.public (Ed25519) with every claim checked explicitly.

A grant is bound to its car twice: as the `sub` claim and as PASETO's implicit
assertion, so a token presented for another car fails its signature check.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pyseto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

AUDIENCE = "trunkdrop:vehicle"
TRUNK_UNLOCK = "trunk:unlock"
TOKEN_PREFIX = "v4.public."  # noqa: S105 - a format prefix, not a secret


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

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        for k in ("iat", "nbf", "exp"):
            raw[k] = raw[k].isoformat()
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
                **times,
            )
        except (TypeError, ValueError) as e:
            raise GrantInvalid("claims_malformed", "grant claims have the wrong types") from e


def vehicle_assertion(vehicle_id: str) -> bytes:
    return f"trunkdrop:vehicle:{vehicle_id}".encode()


@dataclass(frozen=True)
class SigningMaterial:
    kid: str
    private_key: Ed25519PrivateKey


class Keyring:
    """Public keys by id for verifying, and the one current private key for signing."""

    def __init__(self, *, signer: SigningMaterial | None, public_keys: dict[str, Ed25519PublicKey]):
        self._signer = signer
        self._public = dict(public_keys)
        self._paseto_public = {kid: _paseto_public(pk) for kid, pk in public_keys.items()}
        self._paseto_signer = _paseto_private(signer.private_key) if signer else None

    @property
    def current_kid(self) -> str | None:
        return self._signer.kid if self._signer else None

    def knows(self, kid: str) -> bool:
        return kid in self._public

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
        return GrantClaims.from_json(raw)


def claim_refusals(
    claims: GrantClaims, *, issuer: str, vehicle_id: str, now: datetime, max_lifetime_s: int
) -> list[str]:
    """Every claim check that fails (empty: the claims allow opening this trunk now)."""
    found = []
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
