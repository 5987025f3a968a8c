"""The owner's and the carrier's switches that end access at once: the car blocked, consent
withdrawn or run out at the car maker, a handset revoked."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from trunkdrop.access import service as access
from trunkdrop.access.models import Grant
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, outcomes
from trunkdrop.deliveries.models import Attempt
from trunkdrop.devices import service as devices
from trunkdrop.devices.models import Device
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle


def set_access_blocked(
    *,
    session: Session,
    settings: Settings,
    owner: Party,
    vehicle_id: str,
    blocked: bool,
    now: datetime,
) -> Vehicle:
    vehicle = vehicles.get_owned_vehicle(session=session, owner=owner, vehicle_id=vehicle_id)
    vehicles.set_access_blocked(session=session, vehicle=vehicle, blocked=blocked)
    events.record(
        session=session,
        event=Event(
            kind="vehicle.access_blocked" if blocked else "vehicle.access_unblocked",
            at=now,
            subject=vehicle.id,
            actor=owner.id,
        ),
    )
    if blocked:
        _kill_access(
            session=session,
            settings=settings,
            vehicle=vehicle,
            reason=domain.Reason.access_blocked,
            now=now,
        )
    return vehicle


def withdraw_consent(
    *, session: Session, settings: Settings, owner: Party, vehicle_id: str, now: datetime
) -> Vehicle:
    vehicle = vehicles.get_owned_vehicle(session=session, owner=owner, vehicle_id=vehicle_id)
    vehicles.withdraw_consent(session=session, vehicle=vehicle, now=now)
    vehicles.forget_position(vehicle=vehicle)
    events.record(
        session=session,
        event=Event(kind="vehicle.consent_withdrawn", at=now, subject=vehicle.id, actor=owner.id),
    )
    _kill_access(
        session=session,
        settings=settings,
        vehicle=vehicle,
        reason=domain.Reason.no_consent,
        now=now,
    )
    return vehicle


def unlink_vehicle(
    *, session: Session, settings: Settings, owner: Party, vehicle_id: str, now: datetime
) -> Vehicle:
    """The owner unlinks a car: as a consent withdrawal, its live grants end and attempts
    at it fail; its booked deliveries fall back when visited (the car is no longer
    eligible); its plate and positions are erased. Another customer's car is not found,
    as one that does not exist."""
    vehicle = vehicles.get_customers_vehicle(
        session=session, vehicle_id=vehicle_id, customer_id=owner.id
    )
    vehicles.withdraw_consent(session=session, vehicle=vehicle, now=now)
    vehicle.unlinked_at = now
    # Plate, colour and positions go now; the row stays for the deliveries naming it. The
    # maker's id goes once no revoked grant must still be told to the car (upkeep.sweep).
    vehicles.pseudonymise(session=session, vehicle=vehicle)
    events.record(
        session=session,
        event=Event(kind="vehicle.unlinked", at=now, subject=vehicle.id, actor=owner.id),
    )
    _kill_access(
        session=session,
        settings=settings,
        vehicle=vehicle,
        reason=domain.Reason.no_consent,
        now=now,
    )
    return vehicle


def end_expired_consents(*, session: Session, settings: Settings, now: datetime) -> int:
    """Cars whose consent at the car maker ran out: access ends exactly as at a withdrawal
    (live grants die, attempts that have not opened the trunk fail, the position goes), the
    owner is told. Until this runs, the checks at booking and access see the expiry too."""
    ended = list(session.scalars(_CONSENT_RAN_OUT, {"now": now}))
    for vehicle in ended:
        vehicle.consent_expired_at = now
        vehicles.forget_position(vehicle=vehicle)
        assert vehicle.consent_expires_at is not None
        events.record(
            session=session,
            event=Event(
                kind="vehicle.consent_expired",
                at=now,
                subject=vehicle.id,
                facts={
                    "vehicle_id": vehicle.id,
                    "expires_at": vehicle.consent_expires_at.isoformat(),
                },
                parties=(vehicle.owner_id,),
            ),
        )
        _kill_access(
            session=session,
            settings=settings,
            vehicle=vehicle,
            reason=domain.Reason.consent_expired,
            now=now,
            detail="the owner's consent at the car maker expired",
        )
    return len(ended)


def warn_expiring_consents(*, session: Session, settings: Settings, now: datetime) -> int:
    """Tell owners whose consent at the car maker ends within the warning period (once a
    term): renewing it keeps their car bookable."""
    soon = now + timedelta(days=settings.carmaker_consent_warn_days)
    warned = list(session.scalars(_CONSENT_ENDING, {"now": now, "soon": soon}))
    for vehicle in warned:
        vehicle.consent_warned_at = now
        assert vehicle.consent_expires_at is not None
        events.record(
            session=session,
            event=Event(
                kind="vehicle.consent_expiring",
                at=now,
                subject=vehicle.id,
                facts={
                    "vehicle_id": vehicle.id,
                    "expires_at": vehicle.consent_expires_at.isoformat(),
                },
                parties=(vehicle.owner_id,),
            ),
        )
    session.flush()
    return len(warned)


_CONSENTED = (
    Vehicle.unlinked_at.is_(None),
    Vehicle.consent_withdrawn_at.is_(None),
    Vehicle.consent_expired_at.is_(None),
)
_CONSENT_RAN_OUT = select(Vehicle).where(
    *_CONSENTED, Vehicle.consent_expires_at <= bindparam("now")
)
_CONSENT_ENDING = select(Vehicle).where(
    *_CONSENTED,
    Vehicle.consent_warned_at.is_(None),
    Vehicle.consent_expires_at > bindparam("now"),
    Vehicle.consent_expires_at <= bindparam("soon"),
)


def _kill_access(
    *,
    session: Session,
    settings: Settings,
    vehicle: Vehicle,
    reason: str,
    now: datetime,
    detail: str = "the owner withdrew access",
) -> None:
    """Withdrawal kills live grants at once and ends any attempt that has not opened the trunk.

    In the lock order of `fail_attempt`: attempts, then the car's pending unlocks, then
    grants."""
    for attempt in session.scalars(
        select(Attempt).where(
            Attempt.vehicle_id == vehicle.id, Attempt.status.in_(outcomes.NOT_OPEN)
        )
    ):
        outcomes.fail_attempt(
            session=session,
            settings=settings,
            attempt=attempt,
            reason=reason,
            detail=detail,
            now=now,
            only_if=outcomes.NOT_OPEN,
        )
    outcomes.drop_pending_unlocks(session=session, vehicle_id=vehicle.id, now=now, why=reason)
    access.end_live_grants(session=session, now=now, reason=reason, vehicle_id=vehicle.id)
    session.flush()


def revoke_device(
    *, session: Session, settings: Settings, party: Party, device_id: str, now: datetime
) -> Device:
    """A lost or stolen handset, in one call: the device, every live grant bound to it, and
    every attempt it unlocked that has not opened a trunk yet (its unlock still waiting to
    be sent) die at once. An online car's grant is spent when it is issued, so killing
    live grants alone would let the queued unlock go out for the revoked handset. The API
    keys issued for the handset are revoked with it."""
    device = devices.revoke_device(session=session, party=party, device_id=device_id, now=now)
    # In the lock order of `fail_attempt`: attempts, their unlocks, then the grants.
    for attempt in session.scalars(_UNLOCKING_FOR_DEVICE, {"device_id": device.id}):
        outcomes.fail_attempt(
            session=session,
            settings=settings,
            attempt=attempt,
            reason=domain.Reason.device_revoked,
            detail="the driver's handset was revoked",
            now=now,
            only_if=(domain.AttemptStatus.unlocking,),
        )
    access.end_live_grants(session=session, now=now, reason="device_revoked", device_id=device.id)
    # The API keys that came with the handset were on it: whoever holds it has them too.
    parties.revoke_keys_of_device(session=session, device_id=device.id, by=party.id, now=now)
    session.flush()
    return device


# The attempts a handset's grants are unlocking through the platform (built once). An
# offline car's attempt has no unlock command: the car may have opened already and not
# reported yet, so it is left to the pushed revocation and the car's reports.
_UNLOCKING_FOR_DEVICE = (
    select(Attempt)
    .join(Grant, Grant.id == Attempt.grant_id)
    .where(
        Grant.device_id == bindparam("device_id"),
        Attempt.status == domain.AttemptStatus.unlocking,
        Attempt.unlock_command_id.is_not(None),
    )
)
