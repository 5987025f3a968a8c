"""Registering and revoking driver devices; challenges and the proof of possession.

Every access request is signed by the driver's device over a fresh server nonce, the
action and the attempt. The nonce is stored, lives a minute and is burnt by its first
presentation, valid or not.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trunkdrop.access import tokens
from trunkdrop.devices.models import Device, DeviceNonce, DriverFix
from trunkdrop.devices.schemas import DeviceProof, DeviceRegister
from trunkdrop.errors import (
    AccessForbidden,
    AccessRefused,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.geo import distance_m, implausible_move
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.base import insert_if_absent, new_id, table_of
from trunkdrop.store.pages import Order, Page, page_of

TRUNK_UNLOCK = tokens.TRUNK_UNLOCK


def follow_track(
    *,
    session: Session,
    driver: Party,
    latitude: float,
    longitude: float,
    subject: str,
    max_speed_kmh: int,
    slack_m: int,
    now: datetime,
) -> None:
    """Take a position the driver's handset reports (at an attempt's start, at the access
    request) as the track's next fix, or refuse it (audited) when the handset could not have
    got there from its last fix by van. A refused fix does not move the track: trying again
    from the same spot meets the same last fix."""
    fix = session.get(DriverFix, driver.id)
    if fix is not None and fix.at <= now:
        metres = distance_m(fix.latitude, fix.longitude, latitude, longitude)
        seconds = (now - fix.at).total_seconds()
        if implausible_move(
            metres=metres, seconds=seconds, max_speed_mps=max_speed_kmh / 3.6, slack_m=slack_m
        ):
            # The distance and time, not the positions: the audit trail outlives the day.
            events.record(
                session=session,
                event=Event(
                    kind="driver.position_refused",
                    at=now,
                    subject=subject,
                    actor=driver.id,
                    facts={"metres": metres, "seconds": round(seconds)},
                ),
            )
            raise AccessRefused(
                f"this position is {metres} m from the last one the handset reported "
                f"{round(seconds)} s ago: faster than a van drives",
                code="implausible_track",
                field="position",
            )
    if fix is None:
        insert_if_absent(
            session,
            DriverFix,
            {"driver_id": driver.id, "latitude": latitude, "longitude": longitude, "at": now},
        )
    elif now >= fix.at:
        fix.latitude, fix.longitude, fix.at = latitude, longitude, now


def register_device(
    *, session: Session, driver: Party, device_in: DeviceRegister, now: datetime
) -> Device:
    """The driver's app registers its handset's public key. The handset cannot sign until
    the driver's carrier (or an operator) approves it (`approve_device`): a driver's API
    key travels with the app, so a thief holding a stolen phone's key could otherwise enrol
    a handset of their own right after the stolen one is revoked."""
    try:
        tokens.device_public_key(device_in.public_key)
    except ValueError as e:
        raise InvalidInput(
            "public_key is not a raw Ed25519 public key in base64url", field="public_key"
        ) from e
    device = Device(
        id=new_id("dev"),
        driver_id=driver.id,
        public_key=device_in.public_key,
        label=device_in.label,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(device)
    except IntegrityError as e:
        raise Conflict(
            "this public key is already registered", code="device_key_taken", field="public_key"
        ) from e
    events.record(
        session=session,
        event=Event(
            kind="device.registered",
            at=now,
            subject=device.id,
            actor=driver.id,
            facts={"label": device.label},
        ),
    )
    return device


def list_devices(
    *, session: Session, party: Party, cursor: str | None = None, limit: int = 100
) -> Page[Device]:
    """The handsets `party` may see, the first registered first, one page."""
    query = select(Device)
    if party.role == Role.driver:
        query = query.where(Device.driver_id == party.id)
    elif party.role == Role.carrier:
        drivers = select(Party.id).where(Party.carrier_id == party.id)
        query = query.where(Device.driver_id.in_(drivers))
    elif party.role != Role.operator:
        raise Forbidden("only drivers, their carrier and operators see devices")
    return page_of(
        session,
        query,
        order=(Order(Device.created_at), Order(Device.id)),
        key=lambda r: (r.created_at, r.id),
        cursor=cursor,
        limit=limit,
    )


def get_device(
    *, session: Session, party: Party, device_id: str, for_update: bool = False
) -> Device:
    device = session.get(Device, device_id, with_for_update=True if for_update else None)
    if device is None:
        raise NotFound(f"no device with id {device_id!r}", field="device_id")
    if party.role == Role.operator or device.driver_id == party.id:
        return device
    if party.role == Role.carrier:
        driver = session.get(Party, device.driver_id)
        if driver is not None and driver.carrier_id == party.id:
            return device
    raise Forbidden("this device is another driver's")


def approve_device(*, session: Session, party: Party, device_id: str, now: datetime) -> Device:
    """The driver's carrier (or an operator) vouches for a registered handset; from then on
    it may sign access requests. A revoked handset stays revoked."""
    if party.role not in (Role.carrier, Role.operator):
        raise Forbidden("a handset is approved by the driver's carrier or an operator")
    device = get_device(session=session, party=party, device_id=device_id, for_update=True)
    if device.revoked_at is not None:
        raise Conflict("this device was revoked; register a new one", code="device_revoked")
    if device.approved_at is None:
        device.approved_at, device.approved_by = now, party.id
        events.record(
            session=session,
            event=Event(kind="device.approved", at=now, subject=device.id, actor=party.id),
        )
        session.flush()
    return device


def revoke_device(*, session: Session, party: Party, device_id: str, now: datetime) -> Device:
    """Mark a handset revoked, for the driver or their carrier. Use `withdrawals.revoke_device`,
    which also ends what the handset is unlocking and its live grants.

    The row is locked first: an access request checking this handset's proof holds it
    shared until it commits, so the revocation waits for that request and then sees (and
    kills) the grant it issued, or the request waits and sees the handset revoked."""
    device = get_device(session=session, party=party, device_id=device_id, for_update=True)
    if device.revoked_at is None:
        device.revoked_at, device.revoked_by = now, party.id
        events.record(
            session=session,
            event=Event(kind="device.revoked", at=now, subject=device.id, actor=party.id),
        )
    session.flush()
    return device


# -- challenge and proof -------------------------------------------------------------------
def issue_challenge(
    *,
    session: Session,
    driver: Party,
    device_id: str,
    attempt_id: str,
    lifetime_s: int,
    now: datetime,
) -> DeviceNonce:
    device = require_usable_device(
        session=session, driver=driver, device_id=device_id, subject=attempt_id, now=now
    )
    row = DeviceNonce(
        nonce=secrets.token_urlsafe(32),
        device_id=device.id,
        attempt_id=attempt_id,
        action=TRUNK_UNLOCK,
        issued_at=now,
        expires_at=now + timedelta(seconds=lifetime_s),
    )
    session.add(row)
    session.flush()
    return row


def check_proof(
    *,
    session: Session,
    driver: Party,
    attempt_id: str,
    action: str,
    proof: DeviceProof | None,
    now: datetime,
) -> Device:
    """The device that signed this request for this attempt and action, or a refusal.

    Refusals are audited (with the reason, never the signature) and kept.
    """
    if proof is None:
        _refuse(session, driver, attempt_id, "proof_missing", now)
        raise AccessRefused(
            "an access request must carry device_id, nonce and signature from a registered device",
            code="proof_missing",
            field="signature",
        )
    device = require_usable_device(
        session=session,
        driver=driver,
        device_id=proof.device_id,
        subject=attempt_id,
        now=now,
        hold=True,
    )
    # Burn the nonce on its first presentation, whatever the outcome (compare-and-set),
    # and read it in the same statement. Only one issued for this device and attempt
    # burns: a nonce presented for another is refused below and left as it was.
    nonce = (
        session.connection()
        .execute(
            _BURN_OWN_NONCE,
            {
                "burnt_nonce": proof.nonce,
                "own_device_id": device.id,
                "own_attempt_id": attempt_id,
                "at": now,
            },
        )
        .first()
    )
    if nonce is None:
        # Nothing burnt: say why, as the nonce stands (unknown, another's, or used).
        held = session.get(DeviceNonce, proof.nonce)
        if held is None:
            _refuse(session, driver, attempt_id, "nonce_unknown", now, device.id)
            raise AccessRefused(
                "this nonce was never issued; ask for a new challenge",
                code="nonce_unknown",
                field="nonce",
            )
        if held.device_id != device.id or held.attempt_id != attempt_id:
            _refuse(session, driver, attempt_id, "nonce_mismatch", now, device.id)
            raise AccessRefused(
                "this nonce was issued for another device or attempt",
                code="nonce_mismatch",
                field="nonce",
            )
        _refuse(session, driver, attempt_id, "nonce_used", now, device.id)
        raise AccessRefused("this nonce was already used", code="nonce_used", field="nonce")
    if now >= nonce.expires_at:
        _refuse(session, driver, attempt_id, "nonce_expired", now, device.id)
        raise AccessRefused(
            "this nonce has expired; ask for a new challenge", code="nonce_expired", field="nonce"
        )
    message = tokens.proof_message(nonce=nonce.nonce, action=action, attempt_id=attempt_id)
    if nonce.action != action or not tokens.signature_valid(
        public_key=device.public_key, message=message, signature=proof.signature
    ):
        _refuse(session, driver, attempt_id, "proof_invalid", now, device.id)
        raise AccessForbidden(
            "the signature is not this device's over this nonce, action and attempt",
            code="proof_invalid",
            field="signature",
        )
    return device


# Run for every access request: built once.
_NONCES = table_of(DeviceNonce)
_BURN_OWN_NONCE = (
    update(_NONCES)
    .where(
        _NONCES.c.nonce == bindparam("burnt_nonce"),
        _NONCES.c.used_at.is_(None),
        _NONCES.c.device_id == bindparam("own_device_id"),
        _NONCES.c.attempt_id == bindparam("own_attempt_id"),
    )
    .values(used_at=bindparam("at"))
    .returning(_NONCES.c.nonce, _NONCES.c.action, _NONCES.c.expires_at)
)


def purge_nonces(*, session: Session, now: datetime, retention_s: int) -> int:
    """Forget challenges that ran out more than `retention_s` ago (until then one presented
    is refused as expired, not as never issued)."""
    # Only nonces no transaction holds: an access request holds the one it burnt (and
    # then the car's grants, which the sweep holds by now): waiting for it could deadlock.
    spent = (
        select(DeviceNonce.nonce)
        .where(DeviceNonce.expires_at <= now - timedelta(seconds=retention_s))
        .with_for_update(skip_locked=True)
    )
    result = cast(
        CursorResult[Any],
        session.execute(
            delete(DeviceNonce)
            .where(DeviceNonce.nonce.in_(spent))
            .execution_options(synchronize_session=False)
        ),
    )
    return int(result.rowcount or 0)


def require_usable_device(
    *,
    session: Session,
    driver: Party,
    device_id: str,
    subject: str,
    now: datetime,
    hold: bool = False,
) -> Device:
    """The driver's own, unrevoked device, or a refusal (audited and kept, about `subject`:
    the attempt, or the stop an attempt is about to start at).

    With `hold`, the row is locked shared until the transaction ends (PostgreSQL; SQLite's
    one writer serialises anyway), so that a revocation cannot slip between this check
    and the grant the request goes on to issue."""
    if hold:  # as `session.get(..., with_for_update={"read": True})`, built once
        device = session.scalars(_DEVICE_HELD, {"device_id": device_id}).one_or_none()
    else:
        device = session.get(Device, device_id)
    if device is None or device.driver_id != driver.id:
        _refuse(session, driver, subject, "device_unknown", now, device_id[:32])
        raise AccessForbidden(
            "no such device is registered to this driver", code="device_unknown", field="device_id"
        )
    if device.revoked_at is not None:
        _refuse(session, driver, subject, "device_revoked", now, device.id)
        raise AccessForbidden("this device was revoked", code="device_revoked", field="device_id")
    if device.approved_at is None:
        _refuse(session, driver, subject, "device_not_approved", now, device.id)
        raise AccessForbidden(
            "this device waits for the carrier's approval",
            code="device_not_approved",
            field="device_id",
        )
    return device


_DEVICE_HELD = select(Device).where(Device.id == bindparam("device_id")).with_for_update(read=True)


def _refuse(
    session: Session,
    driver: Party,
    attempt_id: str,
    code: str,
    now: datetime,
    device_id: str | None = None,
) -> None:
    events.record(
        session=session,
        event=Event(
            kind="access.refused",
            at=now,
            subject=attempt_id[:32],
            actor=driver.id,
            facts={"reasons": [code], "device": device_id},
        ),
    )


def forget_fixes(*, session: Session, before: datetime) -> int:
    """Forget drivers' last positions older than `before`: after that a new position is
    checked without a track to follow, as a driver's first of the day is."""
    gone = session.execute(delete(DriverFix).where(DriverFix.at < before))
    return int(getattr(gone, "rowcount", 0) or 0)
