"""Signing keys and grants: issue, redeem exactly once, revoke, expire."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, make_transient_to_detached

from trunkdrop.access.models import Grant, GrantRedemption, SigningKey
from trunkdrop.access.tokens import (
    AUDIENCE,
    TRUNK_UNLOCK,
    GrantClaims,
    GrantInvalid,
    Keyring,
    SigningMaterial,
    claim_refusals,
)
from trunkdrop.errors import AccessRefused, Conflict, ServiceUnavailable
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.store.base import insert_if_absent, new_id


# -- keys ----------------------------------------------------------------------------------
def create_signing_key(*, session: Session, passphrase: str, now: datetime) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    row = SigningKey(
        kid=new_id("kid"),
        public_key_pem=private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        private_key_encrypted=private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        ),
        created_at=now,
    )
    session.add(row)
    session.flush()
    events.record(
        session=session, event=Event(kind="key.created", at=now, subject=row.kid, actor="system")
    )
    return row


def rotate_signing_key(*, session: Session, passphrase: str, now: datetime) -> SigningKey:
    """Make a new current key. Old keys stop signing but still verify the grants they signed.

    The passphrase must open the current key: the service decrypts the new key with its
    own passphrase, so a key encrypted with another (a shell without the service's
    setting) would leave every process unable to sign, and its workers failing each tick.
    """
    for older in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        try:
            serialization.load_pem_private_key(
                older.private_key_encrypted, password=passphrase.encode()
            )
        except (TypeError, ValueError) as e:
            raise Conflict(
                "this passphrase does not open the current signing key; rotate with the "
                "service's TRUNKDROP_KEY_PASSPHRASE",
                code="key_passphrase_mismatch",
            ) from e
        older.retired_at = now
    session.flush()
    return create_signing_key(session=session, passphrase=passphrase, now=now)


def load_keyring(*, session: Session, passphrase: str) -> Keyring:
    rows = list(session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.kid)))
    public: dict[str, Ed25519PublicKey] = {}
    for row in rows:
        pk = serialization.load_pem_public_key(row.public_key_pem.encode())
        assert isinstance(pk, Ed25519PublicKey)
        public[row.kid] = pk
    current = next((r for r in reversed(rows) if r.retired_at is None), None)
    signer = None
    if current is not None:
        private = serialization.load_pem_private_key(
            current.private_key_encrypted, password=passphrase.encode()
        )
        assert isinstance(private, Ed25519PrivateKey)
        signer = SigningMaterial(kid=current.kid, private_key=private)
    retired = {r.kid: r.retired_at for r in rows if r.retired_at is not None}
    return Keyring(signer=signer, public_keys=public, retired=retired)


class KeyringCache:
    """Keeps the decrypted keyring in memory; reloads it when an unknown key id shows up."""

    def __init__(self, passphrase: str) -> None:
        self._passphrase = passphrase
        self._keyring: Keyring | None = None
        self._lock = threading.Lock()

    def get(self, session: Session, *, now: datetime) -> Keyring:
        with self._lock:
            if self._keyring is None or self._keyring.current_kid is None:
                keyring = load_keyring(session=session, passphrase=self._passphrase)
                if keyring.current_kid is None:
                    create_signing_key(session=session, passphrase=self._passphrase, now=now)
                    keyring = load_keyring(session=session, passphrase=self._passphrase)
                self._keyring = keyring
            return self._keyring

    def refresh_if_rotated(self, session: Session, *, now: datetime) -> Keyring:
        """The keyring, reloaded when another process (`trunkdrop keys rotate`) made a new
        current key: from then on this process signs with it."""
        current = session.scalars(
            select(SigningKey.kid)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid.desc())
        ).first()
        keyring = self.get(session, now=now)
        if current is not None and current != keyring.current_kid:
            keyring = self.refresh(session)
        return keyring

    def forget(self) -> None:
        """Another process rotated the key (heard over PostgreSQL NOTIFY): the next `get`
        loads the keyring afresh, so this process never signs with a retired key for long."""
        with self._lock:
            self._keyring = None

    def refresh(self, session: Session) -> Keyring:
        with self._lock:
            self._keyring = load_keyring(session=session, passphrase=self._passphrase)
            return self._keyring


# -- grants --------------------------------------------------------------------------------
def issue_grant(
    *,
    session: Session,
    keyring: Keyring,
    issuer: str,
    vehicle_id: str,
    attempt_id: str,
    delivery_id: str,
    driver_id: str,
    device_id: str,
    device_key: str,
    place_lat: float,
    place_lon: float,
    radius_m: int,
    window_end: datetime,
    lifetime_s: int,
    now: datetime,
    sweep: bool = True,
) -> tuple[Grant, str]:
    """A one-time, trunk-only grant for one car and one driver device (its public key is the
    `cnf` claim), minutes long and never past the window. `sweep=False`: the caller read in
    this transaction that the car has no live grant that ran out by `now`."""
    expires = min(now + timedelta(seconds=lifetime_s), window_end)
    if expires <= now:
        raise AccessRefused("the delivery window has closed", code="outside_window")
    claims = GrantClaims(
        iss=issuer,
        sub=vehicle_id,
        aud=AUDIENCE,
        scope=TRUNK_UNLOCK,
        jti=new_id("gr"),
        iat=now,
        nbf=now,
        exp=expires,
        attempt=attempt_id,
        delivery=delivery_id,
        driver=driver_id,
        geo_lat=place_lat,
        geo_lon=place_lon,
        geo_radius_m=radius_m,
        device=device_id,
        cnf=device_key,
    )
    token = keyring.sign(claims)
    # A grant that ran out but was not yet swept must not block the car's next grant.
    if sweep:
        expire_grants(session=session, now=now, vehicle_id=vehicle_id)
    row = {
        "id": claims.jti,
        "vehicle_id": vehicle_id,
        "attempt_id": attempt_id,
        "delivery_id": delivery_id,
        "driver_id": driver_id,
        "device_id": device_id,
        "kid": keyring.current_kid or "",
        "scope": TRUNK_UNLOCK,
        "status": "live",
        "issued_at": now,
        "not_before": now,
        "expires_at": expires,
        "redeemed_at": None,
        "ended_at": None,
        "end_reason": None,
    }
    # The database's one-live-grant-per-car index decides, also between racing requests.
    if not insert_if_absent(session, Grant, row):
        raise Conflict("this car already has a live grant", code="grant_already_live")
    # The row is written: the object joins the session as loaded, without reading it back.
    grant = Grant(**row)
    make_transient_to_detached(grant)
    session.add(grant)
    events.record(
        session=session,
        event=Event(
            kind="grant.issued",
            at=now,
            subject=grant.id,
            actor=driver_id,
            facts={
                "vehicle": vehicle_id,
                "attempt": attempt_id,
                "device": device_id,
                "expires_at": expires.isoformat(),
            },
        ),
    )
    return grant, token


def redeem_grant(
    *,
    session: Session,
    keyring: Keyring,
    issuer: str,
    token: str,
    vehicle_id: str,
    device_key: str,
    command_id: str,
    max_lifetime_s: int,
    now: datetime,
) -> Grant:
    """Check a grant fully and spend it. Exactly one redemption can ever succeed.

    `device_key` is the key of the device that just proved possession (signed a fresh
    nonce); it must be the key the grant was bound to.
    """
    try:
        claims = keyring.verify(token, vehicle_id=vehicle_id)
        refusals = claim_refusals(
            claims,
            issuer=issuer,
            vehicle_id=vehicle_id,
            now=now,
            max_lifetime_s=max_lifetime_s,
            device_key=device_key,
        )
    except GrantInvalid as e:
        _refuse(session, vehicle_id=vehicle_id, code=e.code, now=now)
        raise AccessRefused(str(e), code=f"grant_{e.code}") from e
    if refusals:
        _refuse(session, vehicle_id=vehicle_id, code=refusals[0], now=now, grant_id=claims.jti)
        raise AccessRefused(f"grant refused: {', '.join(refusals)}", code=f"grant_{refusals[0]}")
    try:
        grant = session.get(Grant, claims.jti)
        if grant is None or grant.status != "live":
            why = "unknown" if grant is None else grant.status
            _refuse(
                session, vehicle_id=vehicle_id, code=f"grant_{why}", now=now, grant_id=claims.jti
            )
            raise AccessRefused(f"grant is {why}", code=f"grant_{why}")
        # The ledger's primary key keeps the first use only: of fifty racing, one inserts.
        first_use = insert_if_absent(
            session,
            GrantRedemption,
            {
                "grant_id": claims.jti,
                "vehicle_id": vehicle_id,
                "command_id": command_id,
                "redeemed_at": now,
            },
        )
    except OperationalError as e:
        # If the ledger cannot be read we cannot know the grant is unused: refuse.
        raise ServiceUnavailable("the grant ledger is unavailable; access refused") from e
    if not first_use:
        _refuse(
            session, vehicle_id=vehicle_id, code="grant_already_used", now=now, grant_id=claims.jti
        )
        raise AccessRefused("grant was already used", code="grant_already_used")
    grant.status, grant.redeemed_at = "redeemed", now
    grant.ended_at, grant.end_reason = now, "redeemed"
    session.flush()
    events.record(
        session=session,
        event=Event(
            kind="grant.redeemed",
            at=now,
            subject=grant.id,
            facts={"vehicle": vehicle_id, "command": command_id},
        ),
    )
    return grant


def record_car_redemption(
    *, session: Session, grant: Grant, event_id: str, at: datetime, now: datetime
) -> tuple[bool, str]:
    """A car that checks grants itself reports a use (maybe long after): put it in the ledger.

    Returns (first use?, the grant's status before). A second use of one grant is not
    refused here (the trunk already opened) but reported so that an incident is opened.
    """
    before = grant.status
    first_use = insert_if_absent(
        session,
        GrantRedemption,
        {
            "grant_id": grant.id,
            "vehicle_id": grant.vehicle_id,
            "command_id": f"car:{event_id}"[:32],
            "redeemed_at": at,
        },
    )
    if not first_use:
        events.record(
            session=session,
            event=Event(
                kind="grant.reused",
                at=now,
                subject=grant.id,
                facts={"vehicle": grant.vehicle_id, "event": event_id, "at": at.isoformat()},
            ),
        )
        return False, before
    grant.status, grant.redeemed_at = "redeemed", at
    grant.ended_at, grant.end_reason = grant.ended_at or at, "redeemed_by_car"
    session.flush()
    events.record(
        session=session,
        event=Event(
            kind="grant.redeemed",
            at=now,
            subject=grant.id,
            facts={"vehicle": grant.vehicle_id, "by": "car", "event": event_id, "was": before},
        ),
    )
    return True, before


def _refuse(
    session: Session, *, vehicle_id: str, code: str, now: datetime, grant_id: str | None = None
) -> None:
    events.record(
        session=session,
        event=Event(
            kind="grant.refused",
            at=now,
            subject=grant_id or vehicle_id,
            facts={"vehicle": vehicle_id, "reason": code},
        ),
    )


def end_live_grants(
    *,
    session: Session,
    now: datetime,
    reason: str,
    vehicle_id: str | None = None,
    attempt_id: str | None = None,
    device_id: str | None = None,
) -> list[str]:
    """Kill live grants for a car, an attempt or a device at once (revocation fails closed)."""
    if vehicle_id is None and attempt_id is None and device_id is None:
        raise ValueError("say which grants to end: a car, an attempt or a device")
    query = select(Grant).where(Grant.status == "live")
    if device_id is not None:
        query = query.where(Grant.device_id == device_id)
    if vehicle_id is not None:
        query = query.where(Grant.vehicle_id == vehicle_id)
    if attempt_id is not None:
        query = query.where(Grant.attempt_id == attempt_id)
    ended = []
    for grant in session.scalars(query.with_for_update()):
        grant.status = "revoked"
        grant.ended_at, grant.end_reason = now, reason
        ended.append(grant.id)
        events.record(
            session=session,
            event=Event(
                kind="grant.revoked",
                at=now,
                subject=grant.id,
                facts={"vehicle": grant.vehicle_id, "reason": reason},
            ),
        )
    session.flush()
    return ended


# Every grant issued first sweeps its car's ran-out grants, and every access request asks
# whether the car has a live one: built once.
_RAN_OUT = select(Grant).where(Grant.status == "live", Grant.expires_at <= bindparam("now"))
_RAN_OUT_AT_CAR = _RAN_OUT.where(Grant.vehicle_id == bindparam("vehicle_id"))
_LIVE_AT_CAR = select(Grant).where(
    Grant.vehicle_id == bindparam("vehicle_id"),
    Grant.status == "live",
    Grant.expires_at > bindparam("now"),
)


def expire_grants(*, session: Session, now: datetime, vehicle_id: str | None = None) -> int:
    if vehicle_id is None:
        expired = list(session.scalars(_RAN_OUT, {"now": now}))
    else:
        expired = list(session.scalars(_RAN_OUT_AT_CAR, {"now": now, "vehicle_id": vehicle_id}))
    for grant in expired:
        grant.status, grant.ended_at, grant.end_reason = "expired", now, "expired"
        events.record(
            session=session,
            event=Event(
                kind="grant.expired", at=now, subject=grant.id, facts={"vehicle": grant.vehicle_id}
            ),
        )
    session.flush()
    return len(expired)


def live_grant_for_vehicle(*, session: Session, vehicle_id: str, now: datetime) -> Grant | None:
    return session.scalars(_LIVE_AT_CAR, {"vehicle_id": vehicle_id, "now": now}).first()


__all__ = [
    "KeyringCache",
    "create_signing_key",
    "end_live_grants",
    "expire_grants",
    "issue_grant",
    "live_grant_for_vehicle",
    "record_car_redemption",
    "redeem_grant",
    "rotate_signing_key",
]
