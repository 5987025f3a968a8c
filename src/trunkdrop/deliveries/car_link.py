"""The link to the cars: commands sent and expired, revocations and grant keys pushed to cars
that check grants themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from trunkdrop.access.models import Grant
from trunkdrop.access.tokens import Keyring
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, outcomes
from trunkdrop.deliveries.models import Attempt
from trunkdrop.deliveries.upkeep import WorkDone
from trunkdrop.devices.models import Device
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.incidents import service as incidents
from trunkdrop.store.base import table_of
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle, VehicleCommand
from trunkdrop.vehicles.ports import (
    AdapterError,
    CommandOrder,
    GrantKeys,
    VehicleAsleep,
)
from trunkdrop.vehicles.registry import AdapterRegistry


@dataclass(frozen=True, slots=True)
class Claim:
    """A command marked `sending` (committed) and now to be sent, outside any transaction."""

    command_id: str
    brand: str
    order: CommandOrder
    attempt_id: str | None
    tries: int


@dataclass(frozen=True, slots=True)
class Sent:
    """What the adapter answered for one claim: "sent", "asleep" or an adapter error."""

    claim: Claim
    outcome: str


def dispatch_commands(
    *,
    session: Session,
    settings: Settings,
    registry: AdapterRegistry,
    now: datetime,
    done: WorkDone,
) -> None:
    """Claim, send and record in one session: the embedded path and the tests. The workers
    commit the claim before sending (`claim_commands`, `send_claimed`, `record_sends`)."""
    claims = claim_commands(session=session, settings=settings, now=now, done=done)
    sent = send_claimed(registry=registry, claims=claims, now=now)
    record_sends(session=session, sent=sent, now=now, done=done)


def claim_commands(
    *, session: Session, settings: Settings, now: datetime, done: WorkDone
) -> list[Claim]:
    """Expire the commands that ran out of time and mark those to send `sending`.

    The caller commits before sending: a car maker's cloud may take seconds, and no row
    lock or transaction waits for it. A claim whose outcome was never recorded (the
    dispatcher died between claim and record) is claimed again after
    `command_claim_timeout_s` and sent again under the same command id: a car runs a
    command id once and drops it past its expiry, so an unlock never runs twice.
    """
    claims: list[Claim] = []
    stale = now - timedelta(seconds=settings.command_claim_timeout_s)
    for command, vehicle in vehicles.commands_to_handle(session=session, now=now, stale=stale):
        if now >= command.expires_at:
            if _expire_command(
                session=session, settings=settings, command=command, vehicle=vehicle, now=now
            ):
                done.expired += 1
            continue
        if command.status not in ("pending", "sending"):
            continue
        recovering = command.status == "sending"
        handset_key = None
        if command.kind == "unlock_trunk":
            verdict, handset_key = _unlock_verdict(session, command)
            if verdict == "send" and vehicles.consent_expired(vehicle, now=now):
                # The maker's consent ran out since the grant: the sweep ends the attempt.
                verdict = "drop"
            if verdict == "wait":
                continue  # another transaction holds its attempt or handset: it decides
            if verdict == "drop":
                if not recovering:  # a recovered claim may have reached the car: it runs out
                    vehicles.finish_command(
                        command=command, status="dropped", now=now, detail="grant no longer valid"
                    )
                continue
        command.tries += 1
        command.status, command.sent_at = "sending", now
        claims.append(
            Claim(
                command_id=command.id,
                brand=vehicle.brand,
                attempt_id=command.attempt_id,
                tries=command.tries,
                order=CommandOrder(
                    command_id=command.id,
                    vehicle_external_id=vehicle.external_id,
                    kind="unlock_trunk" if command.kind == "unlock_trunk" else "lock",
                    expires_at=command.expires_at,
                    handset_key=handset_key,
                ),
            )
        )
    session.flush()
    return claims


def send_claimed(*, registry: AdapterRegistry, claims: list[Claim], now: datetime) -> list[Sent]:
    """Send each claimed command through its brand's adapter; no database is touched."""
    sent: list[Sent] = []
    for claim in claims:
        adapter = registry.get(claim.brand)
        try:
            adapter.send_command(claim.order, now=now)
        except VehicleAsleep:
            # Waking is an explicit, bounded step: the command waits until it expires.
            try:
                adapter.wake(external_id=claim.order.vehicle_external_id, now=now)
            except AdapterError as e:
                sent.append(Sent(claim, f"{e.code}: {e}"))
                continue
            sent.append(Sent(claim, "asleep"))
            continue
        except AdapterError as e:
            sent.append(Sent(claim, f"{e.code}: {e}"))
            continue
        sent.append(Sent(claim, "sent"))
    return sent


def record_sends(*, session: Session, sent: list[Sent], now: datetime, done: WorkDone) -> None:
    """Record what the adapter answered. A command the car answered meanwhile (executed,
    rejected) or that another pass expired keeps that state; one not sent waits as
    `pending` for the next pass."""
    done.sent += sum(s.outcome == "sent" for s in sent)
    if not sent:
        return
    if all(s.outcome == "sent" for s in sent):
        # The usual answer: one plain statement, the rows locked and checked as they are
        # written (one the car answered or a pass expired meanwhile is not `sending`).
        session.connection().execute(_MARK_SENT, {"ids": [s.claim.command_id for s in sent]})
        return
    commands = {
        c.id: c
        for c in session.scalars(
            select(VehicleCommand)
            .where(VehicleCommand.id.in_([s.claim.command_id for s in sent]))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    for result in sent:
        command = commands.get(result.claim.command_id)
        if command is None or command.status != "sending":
            continue
        if result.outcome == "sent":
            command.status = "sent"
            continue
        command.status = "pending"
        if result.outcome != "asleep":
            command.detail = result.outcome[:200]
            continue
        command.detail = "vehicle asleep; wake-up sent"
        if result.claim.attempt_id is not None and result.claim.tries == 1:
            attempt = session.get(Attempt, result.claim.attempt_id)
            if attempt is not None:
                events.record(
                    session=session,
                    event=Event(
                        kind="vehicle.waking",
                        at=now,
                        subject=attempt.delivery_id,
                        delivery_id=attempt.delivery_id,
                        text="the car was asleep; waking it",
                    ),
                )
    session.flush()


_COMMANDS = table_of(VehicleCommand)
_MARK_SENT = (
    _COMMANDS.update()
    .where(_COMMANDS.c.id.in_(bindparam("ids", expanding=True)), _COMMANDS.c.status == "sending")
    .values(status="sent")
)


def push_revocations(
    *, session: Session, registry: AdapterRegistry, now: datetime, done: WorkDone
) -> None:
    """Tell cars that check grants themselves about revoked grants that have not expired yet.

    Repeated every tick (cars keep a deny list, so it is idempotent): a car out of reach
    hears it when it is back. Until then it may honour the grant: a named residual risk.
    """
    for grant, vehicle in session.execute(
        select(Grant, Vehicle)
        .join(Vehicle, Vehicle.id == Grant.vehicle_id)
        .where(Grant.status == "revoked", Grant.expires_at > now)
    ):
        if not vehicles.capabilities_of(vehicle).offline_grants:
            continue
        try:
            registry.get(vehicle.brand).revoke_grant(
                external_id=vehicle.external_id, grant_id=grant.id, now=now
            )
        except AdapterError:
            continue
        done.revocations_pushed += 1


def provision_rotated_keys(
    *,
    session: Session,
    registry: AdapterRegistry,
    keyring: Keyring,
    issuer: str,
    longest_grant_s: int,
    now: datetime,
    done: WorkDone,
) -> None:
    """Give cars that check grants themselves the platform's current public keys.

    After `keys rotate` new grants are signed with a key such a car has never seen, and it
    refuses them (fails closed) until it holds the new set. A car out of reach is tried
    again on the next tick.
    """
    public = keyring.public_keys(now=now, longest_grant_s=longest_grant_s)
    digest = vehicles.keys_digest(public)
    for vehicle in vehicles.cars_missing_keys(session=session, digest=digest):
        try:
            registry.get(vehicle.brand).provision_grant_keys(
                external_id=vehicle.external_id,
                keys=GrantKeys(issuer=issuer, vehicle_id=vehicle.id, public_keys=public),
                now=now,
            )
        except AdapterError:
            continue
        vehicle.grant_keys_digest = digest
        events.record(
            session=session,
            event=Event(
                kind="vehicle.keys_provisioned",
                at=now,
                subject=vehicle.id,
                facts={"key_ids": sorted(public)},
            ),
        )
        done.keys_provisioned += 1
    session.flush()


def _unlock_verdict(session: Session, command: VehicleCommand) -> tuple[str, str | None]:
    """Checked again just before the unlock leaves for the car: "send" (with the handset's
    public key, for a car that must see it beside it) when its grant is spent for it, its
    attempt still waits for it and the handset that asked is not revoked; "drop" otherwise;
    "wait" while another transaction holds the attempt or the handset (PostgreSQL: a
    revocation, the owner, the driver failing it), which may be about to drop this unlock.
    Both are locked without waiting (SKIP LOCKED): the dispatcher holds the unlock, and
    whoever holds them may wait for it, so waiting here could deadlock."""
    if command.grant_id is None or command.attempt_id is None:
        return "drop", None
    # The grant comes with its attempt in one statement. No row: the attempt is held (or,
    # never seen, one of them is gone): "wait" sends nothing, and the command runs out.
    row = session.execute(
        _ATTEMPT_AND_GRANT_UNLESS_HELD,
        {"attempt_id": command.attempt_id, "grant_id": command.grant_id},
    ).first()
    if row is None:
        return "wait", None
    attempt, grant = row
    if grant.status != "redeemed" or attempt.status != domain.AttemptStatus.unlocking:
        return "drop", None
    if grant.device_id is None:
        return "drop", None
    device = session.scalars(_HANDSET_UNLESS_HELD, {"device_id": grant.device_id}).first()
    if device is None:
        return "wait", None
    return ("send", device.public_key) if device.revoked_at is None else ("drop", None)


_ATTEMPT_UNLESS_HELD = (
    select(Attempt)
    .where(Attempt.id == bindparam("attempt_id"))
    .with_for_update(skip_locked=True)
    .execution_options(populate_existing=True)
)
_ATTEMPT_AND_GRANT_UNLESS_HELD = (
    select(Attempt, Grant)
    .join(Grant, Grant.id == bindparam("grant_id"))  # two rows by key, not a join condition
    .where(Attempt.id == bindparam("attempt_id"))
    .with_for_update(skip_locked=True, of=Attempt)
    .execution_options(populate_existing=True)
)
_HANDSET_UNLESS_HELD = (
    select(Device)
    .where(Device.id == bindparam("device_id"))
    .with_for_update(read=True, skip_locked=True)
)


def _expire_command(
    *,
    session: Session,
    settings: Settings,
    command: VehicleCommand,
    vehicle: Vehicle,
    now: datetime,
) -> bool:
    attempt = None
    if command.kind == "unlock_trunk" and command.attempt_id is not None:
        # The dispatcher holds this unlock; it must not then wait for the attempt, which a
        # revocation, the owner or the driver may hold while waiting for the unlock: it
        # leaves a held attempt to the next pass.
        attempt = session.scalars(_ATTEMPT_UNLESS_HELD, {"attempt_id": command.attempt_id}).first()
        if attempt is None:
            return False
    vehicles.finish_command(command=command, status="expired", now=now, detail=command.detail)
    events.record(
        session=session,
        event=Event(
            kind="command.expired",
            at=now,
            subject=command.id,
            facts={"kind": command.kind, "vehicle": vehicle.id},
        ),
    )
    if attempt is None or attempt.status != domain.AttemptStatus.unlocking:
        return True
    reason = domain.Reason.vehicle_offline if not vehicle.online else domain.Reason.command_expired
    incidents.open_incident(
        session=session,
        kind="command_expired",
        severity="medium",
        now=now,
        vehicle_id=vehicle.id,
        delivery_id=attempt.delivery_id,
        attempt_id=attempt.id,
        detail=f"unlock for {vehicle.plate} not confirmed within {settings.command_expiry_s} s ({command.detail or 'no answer'})",
    )
    outcomes.fail_attempt(
        session=session,
        settings=settings,
        attempt=attempt,
        reason=reason,
        detail="the car did not confirm the unlock in time",
        now=now,
        only_if=(domain.AttemptStatus.unlocking,),
    )
    return True
