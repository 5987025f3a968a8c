"""Use cases that span domains: an attempt at the car, the car's reports, the owner's switches,
and the background work (sending commands, the relock watchdog)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from trunkdrop.access import audit
from trunkdrop.access import service as access
from trunkdrop.access.models import Grant
from trunkdrop.access.tokens import TRUNK_UNLOCK, Keyring
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Attempt, Delivery
from trunkdrop.deliveries.schemas import AccessGranted, AttemptRead, AttemptStart
from trunkdrop.devices import service as devices
from trunkdrop.devices.models import Device, DeviceNonce
from trunkdrop.devices.schemas import DeviceProof
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.errors import AccessRefused, Conflict, Forbidden, NotFound
from trunkdrop.geo import distance_m
from trunkdrop.incidents import service as incidents
from trunkdrop.incidents.models import Incident
from trunkdrop.notify import service as notify
from trunkdrop.parties.models import Party, Role
from trunkdrop.schemas import Position
from trunkdrop.store.base import new_id, table_of
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle, VehicleCommand
from trunkdrop.vehicles.ports import (
    HANDSET_NOT_NEAR,
    AdapterError,
    CommandOrder,
    GrantKeys,
    VehicleAsleep,
)
from trunkdrop.vehicles.registry import AdapterRegistry
from trunkdrop.vehicles.schemas import VehicleEventIn

ACTIVE = (
    domain.AttemptStatus.started,
    domain.AttemptStatus.unlocking,
    domain.AttemptStatus.trunk_open,
    domain.AttemptStatus.deposited,
)


# Queries the delivery path runs for every delivery, built once (building a statement costs
# more than SQLite takes to run it); parameters are bound when they run.
_ATTEMPT_AT_STOP = select(Attempt.id).where(Attempt.stop_id == bindparam("stop_id"))
_OTHER_ATTEMPT_AT_CAR = select(Attempt.id).where(
    Attempt.vehicle_id == bindparam("vehicle_id"),
    Attempt.id != bindparam("attempt_id"),
    or_(
        Attempt.status.in_((domain.AttemptStatus.unlocking, domain.AttemptStatus.trunk_open)),
        # An attempt that ended while its unlock was on its way to the car: until the car
        # answers or the unlock runs out, an opening could be that unlock, not this one's.
        Attempt.unlock_command_id.in_(
            select(VehicleCommand.id).where(
                VehicleCommand.status == "sent", VehicleCommand.expires_at > bindparam("now")
            )
        ),
    ),
)
_UNLOCKING_ATTEMPT_AT_CAR = select(Attempt).where(
    Attempt.vehicle_id == bindparam("vehicle_id"),
    Attempt.status == domain.AttemptStatus.unlocking,
)
_UNSECURED_ATTEMPT_AT_CAR = (
    select(Attempt)
    .where(
        Attempt.vehicle_id == bindparam("vehicle_id"),
        Attempt.trunk_opened_at.is_not(None),
        Attempt.secured_at.is_(None),
    )
    .order_by(Attempt.trunk_opened_at.desc())
)
_CLAIM_ACCESS = (
    update(table_of(Attempt))
    .where(
        table_of(Attempt).c.id == bindparam("attempt_id"),
        table_of(Attempt).c.status == domain.AttemptStatus.started,
    )
    .values(status=domain.AttemptStatus.unlocking, access_requested_at=bindparam("at"))
)
_OPEN_LOCK_COMMAND = select(VehicleCommand).where(
    VehicleCommand.vehicle_id == bindparam("vehicle_id"),
    VehicleCommand.kind == "lock",
    VehicleCommand.status.in_(("pending", "sent")),
)


# -- attempts ------------------------------------------------------------------------------
def get_attempt(*, session: Session, attempt_id: str) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound(f"no attempt with id {attempt_id!r}", field="attempt_id")
    return attempt


def check_attempt_access(*, session: Session, party: Party, attempt: Attempt) -> None:
    if party.role == Role.driver:
        if attempt.driver_id != party.id:
            raise Forbidden("this attempt is another driver's")
        return
    delivery = deliveries.get_delivery(session=session, delivery_id=attempt.delivery_id)
    deliveries.check_delivery_access(session=session, party=party, delivery=delivery)


def _own_attempt(session: Session, driver: Party, attempt_id: str) -> Attempt:
    # Lock the attempt first: every change to it then runs one at a time, and row locks
    # are always taken in the same order (attempt, then what it touches).
    attempt = session.get(Attempt, attempt_id, with_for_update=True)
    if attempt is None:
        raise NotFound(f"no attempt with id {attempt_id!r}", field="attempt_id")
    if attempt.driver_id != driver.id:
        raise Forbidden("this attempt is another driver's")
    return attempt


def start_attempt(
    *,
    session: Session,
    settings: Settings,
    driver: Party,
    stop_id: str,
    attempt_in: AttemptStart,
    now: datetime,
) -> Attempt:
    """The driver is at the stop with the parcel in hand."""
    stop = dispatch.get_stop(session=session, stop_id=stop_id, for_update=True)
    route = dispatch.get_route(session=session, route_id=stop.route_id)
    if route.driver_id != driver.id:
        raise Forbidden("this stop is on another driver's route")
    if route.status != "started":
        raise Conflict(f"the route is {route.status}; start it first", code="route_not_started")
    if stop.status != "pending":
        raise Conflict(f"this stop is {stop.status}", code="stop_finished")
    nxt = dispatch.next_open_stop(session=session, route_id=route.id)
    if nxt is None or nxt.id != stop.id:
        raise Conflict("finish the earlier stops of the route first", code="stop_not_open")
    if session.scalars(_ATTEMPT_AT_STOP, {"stop_id": stop.id}).first():
        raise Conflict("an attempt at this stop already exists", code="attempt_exists")
    delivery = deliveries.get_delivery(session=session, delivery_id=stop.delivery_id)
    if attempt_in.scanned_parcel_ref != delivery.parcel_ref:
        audit.append(
            session=session,
            actor=driver.id,
            action="attempt.refused",
            subject=stop.id,
            now=now,
            data={"reason": "parcel_mismatch"},
        )
        raise AccessRefused(
            "the scanned parcel is not the one booked for this stop",
            code="parcel_mismatch",
            field="scanned_parcel_ref",
        )
    _follow_track(session, settings, driver, attempt_in.position, subject=stop.id, now=now)
    attempt = Attempt(
        id=new_id("att"),
        delivery_id=delivery.id,
        stop_id=stop.id,
        driver_id=driver.id,
        vehicle_id=delivery.vehicle_id,
        mode=stop.mode,
        option_seq=stop.option_seq,
        status=domain.AttemptStatus.started,
        started_at=now,
        driver_latitude=attempt_in.position.latitude,
        driver_longitude=attempt_in.position.longitude,
        scanned_parcel_ref=attempt_in.scanned_parcel_ref,
    )
    session.add(attempt)
    session.flush()
    where = "at the car" if stop.mode == "trunk" else "at the door"
    deliveries.add_timeline(
        session=session,
        delivery_id=delivery.id,
        kind="attempt_started",
        text=f"driver arrived {where}",
        now=now,
    )
    return attempt


def _follow_track(
    session: Session,
    settings: Settings,
    driver: Party,
    position: Position,
    *,
    subject: str,
    now: datetime,
) -> None:
    devices.follow_track(
        session=session,
        driver=driver,
        latitude=position.latitude,
        longitude=position.longitude,
        subject=subject,
        max_speed_kmh=settings.driver_max_speed_kmh,
        slack_m=settings.driver_track_slack_m,
        now=now,
    )


def start_attempt_with_challenge(
    *,
    session: Session,
    settings: Settings,
    driver: Party,
    stop_id: str,
    attempt_in: AttemptStart,
    now: datetime,
) -> tuple[Attempt, DeviceNonce | None]:
    """`start_attempt`, and when the app names its handset, that handset's challenge for
    the new attempt in the same step. A handset that may not sign (unknown, revoked)
    refuses the whole step: nothing starts."""
    if attempt_in.device_id is not None:
        # Checked before the attempt exists: a refusal is kept (audited), so it must not
        # be able to keep a half-done step with it.
        devices.require_usable_device(
            session=session, driver=driver, device_id=attempt_in.device_id, subject=stop_id, now=now
        )
    attempt = start_attempt(
        session=session,
        settings=settings,
        driver=driver,
        stop_id=stop_id,
        attempt_in=attempt_in,
        now=now,
    )
    if attempt_in.device_id is None:
        return attempt, None
    # The attempt is this driver's own, just started: the challenge needs no second look.
    nonce = devices.issue_challenge(
        session=session,
        driver=driver,
        device_id=attempt_in.device_id,
        attempt_id=attempt.id,
        lifetime_s=settings.nonce_lifetime_s,
        now=now,
    )
    return attempt, nonce


def issue_challenge(
    *,
    session: Session,
    settings: Settings,
    driver: Party,
    attempt_id: str,
    device_id: str,
    now: datetime,
) -> DeviceNonce:
    """A fresh nonce for the driver's own device and own attempt."""
    attempt = get_attempt(session=session, attempt_id=attempt_id)
    if attempt.driver_id != driver.id:
        raise Forbidden("this attempt is another driver's")
    return devices.issue_challenge(
        session=session,
        driver=driver,
        device_id=device_id,
        attempt_id=attempt.id,
        lifetime_s=settings.nonce_lifetime_s,
        now=now,
    )


def request_access(
    *,
    session: Session,
    settings: Settings,
    keyring: Keyring,
    driver: Party,
    attempt_id: str,
    position: Position,
    proof: DeviceProof | None,
    now: datetime,
) -> AccessGranted:
    """Check the device's proof and every rule, issue a one-time trunk grant bound to the
    device, redeem it, and queue the unlock.

    A car that verifies grants itself (offline mode) gets no command: the grant goes to the
    device, the car checks it, and its report of the use is reconciled later.
    Returns at once: the car's own report later says whether the trunk opened.
    """
    attempt = _own_attempt(session, driver, attempt_id)
    if attempt.mode != "trunk":
        raise Conflict("a home delivery has no trunk to open", code="not_a_trunk_stop")
    if attempt.status == domain.AttemptStatus.failed:
        # Say why it ended (e.g. the owner blocked access), not "already requested".
        raise Conflict(
            f"this attempt has failed: {attempt.failure_reason}",
            code=attempt.failure_reason or "attempt_failed",
            extra={"attempt_status": attempt.status},
        )
    if attempt.status != domain.AttemptStatus.started:
        raise Conflict(
            f"access was already requested for this attempt (it is {attempt.status})",
            code="access_already_requested",
        )
    device = devices.check_proof(
        session=session,
        driver=driver,
        attempt_id=attempt.id,
        action=TRUNK_UNLOCK,
        proof=proof,
        now=now,
    )
    delivery = deliveries.get_delivery(session=session, delivery_id=attempt.delivery_id)
    vehicle = deliveries.vehicle_for(session=session, delivery=delivery)
    car_verifies = vehicles.capabilities_of(vehicle).offline_grants
    assert attempt.option_seq is not None
    booked = deliveries.option(session=session, delivery_id=delivery.id, seq=attempt.option_seq)
    busy = access.live_grant_for_vehicle(
        session=session, vehicle_id=vehicle.id, now=now
    ) is not None or (
        session.scalars(
            _OTHER_ATTEMPT_AT_CAR,
            {"vehicle_id": vehicle.id, "attempt_id": attempt.id, "now": now},
        ).first()
        is not None
    )
    ctx = domain.AccessContext(
        now=now,
        window=domain.TimeWindow(booked.window_start, booked.window_end),
        place_lat=booked.latitude,
        place_lon=booked.longitude,
        vehicle_lat=vehicle.latitude,
        vehicle_lon=vehicle.longitude,
        vehicle_position_at=vehicle.position_at,
        vehicle_online=vehicle.online,
        vehicle_blockers=tuple(vehicles.trunk_delivery_blockers(vehicle)),
        driver_lat=position.latitude,
        driver_lon=position.longitude,
        vehicle_radius_m=settings.vehicle_radius_m,
        driver_radius_m=settings.driver_radius_m,
        position_max_age_s=settings.position_max_age_s,
        live_grant_on_vehicle=busy,
        car_verifies_grant=car_verifies,
    )
    refusals = domain.access_refusals(ctx)
    if refusals:
        first = next((r for r in refusals if r.final), refusals[0])
        audit.append(
            session=session,
            actor=driver.id,
            action="access.refused",
            subject=attempt.id,
            now=now,
            data={"vehicle": vehicle.id, "reasons": [r.code for r in refusals]},
        )
        if first.final:
            fail_attempt(
                session=session,
                settings=settings,
                attempt=attempt,
                reason=first.code,
                detail=first.message,
                now=now,
            )
        raise AccessRefused(
            first.message,
            code=first.code,
            extra={"reasons": [r.code for r in refusals], "attempt_status": attempt.status},
        )
    # Only a position that passed the rules above is measured against the track (and moves
    # it): one refused as too far away says so, and does not count as where the handset was.
    _follow_track(session, settings, driver, position, subject=attempt.id, now=now)
    # Compare-and-set: of many simultaneous requests for one attempt, one goes on.
    won = cast(
        CursorResult[Any],
        session.connection().execute(_CLAIM_ACCESS, {"attempt_id": attempt.id, "at": now}),
    )
    if won.rowcount != 1:
        raise Conflict(
            "access was already requested for this attempt", code="access_already_requested"
        )
    # The row now holds what the statement set; say so without reading it back.
    set_committed_value(attempt, "status", domain.AttemptStatus.unlocking)
    set_committed_value(attempt, "access_requested_at", now.astimezone(UTC))
    grant, token = access.issue_grant(
        session=session,
        keyring=keyring,
        issuer=settings.grant_issuer,
        vehicle_id=vehicle.id,
        attempt_id=attempt.id,
        delivery_id=delivery.id,
        driver_id=driver.id,
        device_id=device.id,
        device_key=device.public_key,
        place_lat=booked.latitude,
        place_lon=booked.longitude,
        radius_m=settings.vehicle_radius_m,
        window_end=booked.window_end,
        lifetime_s=settings.grant_lifetime_s,
        now=now,
    )
    if car_verifies:
        attempt.grant_id = grant.id
        deliveries.add_timeline(
            session=session,
            delivery_id=delivery.id,
            kind="access_granted",
            text="trunk access granted; the car checks the grant itself",
            now=now,
        )
        session.flush()
        return AccessGranted(
            attempt=AttemptRead.model_validate(attempt),
            grant_id=grant.id,
            grant_expires_at=grant.expires_at,
            grant_token=token,
        )
    command_expires = min(now + timedelta(seconds=settings.command_expiry_s), grant.expires_at)
    command = vehicles.create_command(
        session=session,
        vehicle=vehicle,
        kind="unlock_trunk",
        now=now,
        expires_at=command_expires,
        attempt_id=attempt.id,
        grant_id=grant.id,
    )
    # The grant is checked (signature, every claim, the one-use ledger) before the unlock exists.
    access.redeem_grant(
        session=session,
        keyring=keyring,
        issuer=settings.grant_issuer,
        token=token,
        vehicle_id=vehicle.id,
        device_key=device.public_key,
        command_id=command.id,
        max_lifetime_s=settings.grant_lifetime_s,
        now=now,
    )
    attempt.grant_id, attempt.unlock_command_id = grant.id, command.id
    audit.append(
        session=session,
        actor="platform",
        action="command.unlock_trunk",
        subject=command.id,
        now=now,
        data={"vehicle": vehicle.id, "grant": grant.id, "expires_at": command_expires.isoformat()},
    )
    deliveries.add_timeline(
        session=session,
        delivery_id=delivery.id,
        kind="access_granted",
        text="trunk access granted; unlocking",
        now=now,
    )
    session.flush()
    return AccessGranted(
        attempt=AttemptRead.model_validate(attempt),
        grant_id=grant.id,
        grant_expires_at=grant.expires_at,
        command_id=command.id,
        command_expires_at=command_expires,
    )


def confirm_deposit(
    *, session: Session, settings: Settings, driver: Party, attempt_id: str, now: datetime
) -> Attempt:
    attempt = _own_attempt(session, driver, attempt_id)
    if attempt.mode != "trunk":
        raise Conflict("use handover for a home delivery", code="not_a_trunk_stop")
    if (
        attempt.status == domain.AttemptStatus.unlocking
        and attempt.unlock_command_id is None
        and attempt.grant_id is not None
        and attempt.deposited_at is None
    ):
        # A car that checks grants itself opened without the platform: its report comes
        # when it is back in reach; until then the driver's word is kept, not trusted.
        attempt.deposited_at = now
        deliveries.add_timeline(
            session=session,
            delivery_id=attempt.delivery_id,
            kind="deposited",
            text="driver reports the parcel in the trunk; waiting for the car's own report",
            now=now,
        )
        session.flush()
        return attempt
    _transition(attempt, domain.AttemptStatus.deposited)
    attempt.deposited_at = now
    deliveries.add_timeline(
        session=session,
        delivery_id=attempt.delivery_id,
        kind="deposited",
        text="parcel placed in the trunk",
        now=now,
    )
    vehicle = session.get(Vehicle, attempt.vehicle_id)
    assert vehicle is not None
    if _secured_since(vehicle, attempt):
        _mark_secured(session=session, settings=settings, attempt=attempt, now=now)
    elif vehicle.trunk_state == "closed":
        _send_lock(session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now)
    session.flush()
    return attempt


def confirm_handover(
    *, session: Session, settings: Settings, driver: Party, attempt_id: str, now: datetime
) -> Attempt:
    attempt = _own_attempt(session, driver, attempt_id)
    if attempt.mode != "home":
        raise Conflict(
            "a trunk delivery is confirmed by the car, not by hand", code="not_a_home_stop"
        )
    _transition(attempt, domain.AttemptStatus.succeeded)
    attempt.ended_at = now
    _finish_delivered(
        session=session, settings=settings, attempt=attempt, outcome="delivered_home", now=now
    )
    return attempt


def report_failure(
    *,
    session: Session,
    settings: Settings,
    driver: Party,
    attempt_id: str,
    reason: str,
    detail: str | None,
    now: datetime,
) -> Attempt:
    attempt = _own_attempt(session, driver, attempt_id)
    if attempt.status not in (
        domain.AttemptStatus.started,
        domain.AttemptStatus.unlocking,
        domain.AttemptStatus.trunk_open,
    ):
        raise Conflict(
            f"an attempt that is {attempt.status} cannot fail now", code="illegal_transition"
        )
    fail_attempt(
        session=session,
        settings=settings,
        attempt=attempt,
        reason=reason,
        detail=detail or "reported by the driver",
        now=now,
    )
    return attempt


def _transition(attempt: Attempt, target: domain.AttemptStatus) -> None:
    try:
        attempt.status = domain.check_attempt_transition(attempt.status, target)
    except domain.IllegalTransition as e:
        raise Conflict(str(e), code="illegal_transition") from e


def fail_attempt(
    *,
    session: Session,
    settings: Settings,
    attempt: Attempt,
    reason: str,
    detail: str,
    now: datetime,
    only_if: tuple[domain.AttemptStatus, ...] | None = None,
) -> None:
    """End the attempt with a reason, kill its grant, and let the fallback policy decide.

    Rows are locked in one order (PostgreSQL): the attempt, then the car's pending unlocks,
    then the grants; the dispatcher, which claims unlocks first, never waits for an
    attempt (it leaves one that is held). The attempt is read again under its lock: another
    transaction (the car's report, a dispatcher) may have moved it since it was read, and a
    caller that decided on a status (`only_if`: an unlock that ran out, a revoked handset's
    unlock) does nothing once the attempt has left it (the trunk opened meanwhile)."""
    if attempt.status in (domain.AttemptStatus.failed, domain.AttemptStatus.succeeded):
        return
    status = session.execute(_ATTEMPT_STATUS_LOCKED, {"attempt_id": attempt.id}).scalar_one()
    if status != attempt.status:
        session.refresh(attempt)
    if attempt.status in (domain.AttemptStatus.failed, domain.AttemptStatus.succeeded):
        return
    if only_if is not None and attempt.status not in only_if:
        return
    if attempt.vehicle_id is not None:
        # Its own unlocks only: another attempt at the same car (another driver's parcel)
        # keeps its own, or it would wait in `unlocking` for an unlock nobody sends.
        _drop_pending_unlocks(
            session=session,
            vehicle_id=attempt.vehicle_id,
            attempt_id=attempt.id,
            now=now,
            why=f"attempt failed: {reason}",
        )
    _transition(attempt, domain.AttemptStatus.failed)
    attempt.failure_reason, attempt.failure_detail, attempt.ended_at = reason, detail[:300], now
    access.end_live_grants(
        session=session, now=now, reason=f"attempt_failed:{reason}", attempt_id=attempt.id
    )
    audit.append(
        session=session,
        actor="platform",
        action="attempt.failed",
        subject=attempt.id,
        now=now,
        data={"reason": reason},
    )
    stop = session.get(RouteStop, attempt.stop_id)
    assert stop is not None
    dispatch.finish_stop(stop=stop, status="failed")
    delivery = deliveries.get_delivery(session=session, delivery_id=attempt.delivery_id)
    deliveries.add_timeline(
        session=session,
        delivery_id=delivery.id,
        kind="attempt_failed",
        text=f"attempt failed: {reason.replace('_', ' ')}",
        now=now,
    )
    _fall_back(
        session=session,
        settings=settings,
        delivery=delivery,
        stop=stop,
        mode=attempt.mode,
        option_seq=attempt.option_seq,
        reason=reason,
        now=now,
    )


# An attempt whose trunk has not opened: what a car driving off or the owner's withdrawal ends.
_NOT_OPEN = (domain.AttemptStatus.started, domain.AttemptStatus.unlocking)
_ATTEMPT_STATUS_LOCKED = (
    select(Attempt.status).where(Attempt.id == bindparam("attempt_id")).with_for_update()
)


def reroute_if_car_away(
    *, session: Session, settings: Settings, stop_id: str, now: datetime
) -> bool:
    """Before a driver sets off to a trunk stop: if its window is over, or the car already
    reported that it is offline or stands away from the booked place, skip the place without
    an attempt (no wasted trip) and let the fallback policy pick the next. True when skipped."""
    stop = dispatch.get_stop(session=session, stop_id=stop_id)
    if stop.status != "pending" or stop.mode != "trunk" or stop.option_seq is None:
        return False
    if dispatch.has_attempt(session=session, stop_id=stop.id):
        return False
    delivery = deliveries.get_delivery(session=session, delivery_id=stop.delivery_id)
    vehicle = deliveries.vehicle_for(session=session, delivery=delivery)
    booked = deliveries.option(session=session, delivery_id=delivery.id, seq=stop.option_seq)
    reason = None
    if now >= booked.window_end:
        reason = domain.Reason.outside_window
    elif not vehicle.online:
        reason = domain.Reason.vehicle_offline
    elif (
        vehicle.latitude is not None
        and vehicle.longitude is not None
        and vehicle.position_at is not None
        and distance_m(vehicle.latitude, vehicle.longitude, booked.latitude, booked.longitude)
        > settings.vehicle_radius_m
        and booked.window_start <= now < booked.window_end
    ):
        reason = domain.Reason.vehicle_moved
    if reason is None:
        return False
    dispatch.finish_stop(stop=stop, status="cancelled")
    deliveries.add_timeline(
        session=session,
        delivery_id=delivery.id,
        kind="rerouted",
        now=now,
        text=f"the car reported it is not at {booked.label} ({reason.replace('_', ' ')}); skipping that place",
    )
    audit.append(
        session=session,
        actor="platform",
        action="stop.rerouted",
        subject=stop.id,
        now=now,
        data={"reason": reason},
    )
    _fall_back(
        session=session,
        settings=settings,
        delivery=delivery,
        stop=stop,
        mode="trunk",
        option_seq=stop.option_seq,
        reason=reason,
        now=now,
    )
    return True


def _fall_back(
    *,
    session: Session,
    settings: Settings,
    delivery: Delivery,
    stop: RouteStop,
    mode: str,
    option_seq: int | None,
    reason: str,
    now: datetime,
) -> None:
    """Apply the fallback policy after a visit that did not deliver. Never drops a parcel."""
    options = [
        domain.OptionView(o.seq, domain.TimeWindow(o.window_start, o.window_end))
        for o in deliveries.options_of(session=session, delivery_id=delivery.id)
    ]
    decision = domain.decide_fallback(
        options=options,
        current_seq=option_seq,
        mode=mode,
        reason=reason,
        now=now,
        has_fallback_address=delivery.fallback_address is not None,
    )
    route = session.get(Route, stop.route_id)
    assert route is not None
    recipients = [delivery.retailer_id, delivery.carrier_id, delivery.customer_id]
    if decision.kind == domain.FallbackKind.next_place:
        nxt = deliveries.option(
            session=session, delivery_id=delivery.id, seq=decision.option_seq or 0
        )
        delivery.current_option = nxt.seq
        dispatch.add_stop(
            session=session, route=route, delivery_id=delivery.id, mode="trunk", option_seq=nxt.seq
        )
        text = f"will try the car at {nxt.label}, {deliveries.local_time(nxt.window_start, settings)}–{deliveries.local_time(nxt.window_end, settings)}"
    elif decision.kind == domain.FallbackKind.home:
        delivery.mode, delivery.current_option = "home", None
        dispatch.add_stop(
            session=session, route=route, delivery_id=delivery.id, mode="home", option_seq=None
        )
        text = f"will deliver to the fallback address: {delivery.fallback_address}"
    else:
        delivery.status = domain.check_delivery_transition(
            delivery.status, domain.DeliveryStatus.returned_to_sender
        )
        delivery.outcome, delivery.outcome_reason, delivery.ended_at = (
            "returned_to_sender",
            reason,
            now,
        )
        text = "going back to the sender"
        dispatch.maybe_finish_route(session=session, route_id=route.id)
    if decision.kind != domain.FallbackKind.return_to_sender and settings.auto_replan:
        # The new stop went to the end of this van's route: the planner puts it where it fits.
        dispatch.request_replan(session=session, route=route, reason="stop_failed", now=now)
    deliveries.add_timeline(
        session=session,
        delivery_id=delivery.id,
        kind=f"fallback_{decision.kind}",
        text=text,
        now=now,
    )
    notify.emit(
        session=session,
        topic="delivery.attempt_failed",
        recipient_ids=recipients,
        delivery_id=delivery.id,
        now=now,
        payload={
            "delivery_id": delivery.id,
            "reason": reason,
            "fallback": decision.kind,
            "message": text,
        },
    )
    session.flush()


def _finish_delivered(
    *, session: Session, settings: Settings, attempt: Attempt, outcome: str, now: datetime
) -> None:
    delivery = deliveries.get_delivery(session=session, delivery_id=attempt.delivery_id)
    delivery.status = domain.check_delivery_transition(
        delivery.status, domain.DeliveryStatus.delivered
    )
    delivery.outcome, delivery.ended_at = outcome, now
    stop = session.get(RouteStop, attempt.stop_id)
    assert stop is not None
    dispatch.finish_stop(stop=stop, status="done")
    dispatch.maybe_finish_route(session=session, route_id=stop.route_id)
    if outcome == "delivered_trunk":
        text = f"delivered, trunk locked at {deliveries.local_time(now, settings)}"
    else:
        text = f"delivered to {delivery.fallback_address} at {deliveries.local_time(now, settings)}"
    deliveries.add_timeline(
        session=session, delivery_id=delivery.id, kind="delivered", text=text, now=now
    )
    notify.emit(
        session=session,
        topic="delivery.delivered",
        recipient_ids=[delivery.retailer_id, delivery.carrier_id, delivery.customer_id],
        delivery_id=delivery.id,
        now=now,
        payload={"delivery_id": delivery.id, "outcome": outcome, "message": text},
    )
    audit.append(
        session=session,
        actor="platform",
        action="delivery.delivered",
        subject=delivery.id,
        now=now,
        data={"outcome": outcome},
    )
    session.flush()


def _answers_access(attempt: Attempt, opened_at: datetime) -> bool:
    """An opening the car made after the driver was granted access can answer it; one made
    before (the owner's own, reported late) cannot, and so cannot start the clock that a
    later "closed and locked" is measured against."""
    granted = attempt.access_requested_at
    return granted is not None and opened_at >= granted


def _secured_since(vehicle: Vehicle, attempt: Attempt) -> bool:
    """The car itself reported trunk closed and locked after this attempt opened it."""
    opened = attempt.trunk_opened_at
    return (
        opened is not None
        and vehicle.trunk_state == "closed"
        and vehicle.lock_state == "locked"
        and vehicle.lock_state_at is not None
        and vehicle.lock_state_at >= opened
        and vehicle.trunk_state_at is not None
        and vehicle.trunk_state_at >= opened
    )


def _mark_secured(*, session: Session, settings: Settings, attempt: Attempt, now: datetime) -> None:
    attempt.secured_at = now
    incidents.resolve_open(
        session=session,
        attempt_id=attempt.id,
        kind="trunk_not_locked",
        resolution="car reported trunk closed and locked",
        now=now,
    )
    audit.append(
        session=session,
        actor="platform",
        action="vehicle.secured",
        subject=attempt.vehicle_id or attempt.id,
        now=now,
        data={"attempt": attempt.id},
    )
    deliveries.add_timeline(
        session=session,
        delivery_id=attempt.delivery_id,
        kind="locked",
        text="car reported trunk closed and locked",
        now=now,
    )
    if attempt.status == domain.AttemptStatus.deposited:
        _transition(attempt, domain.AttemptStatus.succeeded)
        attempt.ended_at = now
        _finish_delivered(
            session=session, settings=settings, attempt=attempt, outcome="delivered_trunk", now=now
        )


def _send_lock(
    *, session: Session, settings: Settings, vehicle: Vehicle, attempt: Attempt, now: datetime
) -> VehicleCommand | None:
    pending = session.scalars(_OPEN_LOCK_COMMAND, {"vehicle_id": vehicle.id}).first()
    if pending is not None:
        return None
    command = vehicles.create_command(
        session=session,
        vehicle=vehicle,
        kind="lock",
        now=now,
        expires_at=now + timedelta(seconds=settings.command_expiry_s),
        attempt_id=attempt.id,
    )
    audit.append(
        session=session,
        actor="platform",
        action="command.lock",
        subject=command.id,
        now=now,
        data={"vehicle": vehicle.id, "attempt": attempt.id},
    )
    return command


def _drop_pending_unlocks(
    *, session: Session, vehicle_id: str, now: datetime, why: str, attempt_id: str | None = None
) -> None:
    """The car's unlocks not sent yet (only `attempt_id`'s, when given) are dropped.

    Locked: an unlock a dispatcher holds is waited for, and skipped if it was sent
    meanwhile (PostgreSQL reads the row again after the wait), never marked dropped after
    it left for the car."""
    query = select(VehicleCommand).where(
        VehicleCommand.vehicle_id == vehicle_id,
        VehicleCommand.kind == "unlock_trunk",
        VehicleCommand.status == "pending",
    )
    if attempt_id is not None:
        query = query.where(VehicleCommand.attempt_id == attempt_id)
    for command in session.scalars(query.with_for_update()):
        vehicles.finish_command(command=command, status="dropped", now=now, detail=why)
        audit.append(
            session=session,
            actor="platform",
            action="command.dropped",
            subject=command.id,
            now=now,
            data={"why": why},
        )


def _unsecured_attempt(session: Session, vehicle_id: str) -> Attempt | None:
    """The attempt (if any) that opened this car's trunk and has not seen it locked since."""
    return session.scalars(_UNSECURED_ATTEMPT_AT_CAR, {"vehicle_id": vehicle_id}).first()


# -- the car's reports ---------------------------------------------------------------------
def ingest_vehicle_event(
    *, session: Session, settings: Settings, brand: str, event_in: VehicleEventIn, now: datetime
) -> bool:
    """Fold a car maker's event into the platform and react to it. False when a duplicate."""
    event_in = vehicles.bounded_report(
        event_in, received_at=now, max_ahead_s=settings.report_max_ahead_s
    )
    vehicle, new = vehicles.record_event(session=session, brand=brand, event_in=event_in, now=now)
    if not new:
        return False
    kind = event_in.type
    if kind in ("locked", "unlocked", "trunk_opened", "trunk_closed"):
        audit.append(
            session=session,
            actor=brand,
            action=f"vehicle.{kind}",
            subject=vehicle.id,
            now=now,
            data={"event": event_in.event_id},
        )
    if kind in ("command_executed", "command_rejected") and event_in.command_id:
        _on_command_result(
            session=session, settings=settings, vehicle=vehicle, event_in=event_in, now=now
        )
    elif kind == "grant_used":
        _on_grant_used(session=session, vehicle=vehicle, event_in=event_in, now=now)
    elif kind == "grant_refused":
        audit.append(
            session=session,
            actor=brand,
            action="grant.refused",
            subject=(event_in.grant_id or vehicle.id)[:64],
            now=now,
            data={"vehicle": vehicle.id, "reason": event_in.detail, "by": "car"},
        )
    elif kind == "trunk_opened":
        attempt = session.scalars(_UNLOCKING_ATTEMPT_AT_CAR, {"vehicle_id": vehicle.id}).first()
        if attempt is not None and _answers_access(attempt, event_in.occurred_at):
            _transition(attempt, domain.AttemptStatus.trunk_open)
            attempt.trunk_opened_at = event_in.occurred_at
            deliveries.add_timeline(
                session=session,
                delivery_id=attempt.delivery_id,
                kind="trunk_open",
                text="the car reported the trunk open",
                now=now,
            )
            if attempt.deposited_at is not None:
                # An offline car: the driver confirmed before the car's report arrived.
                _transition(attempt, domain.AttemptStatus.deposited)
        else:
            _on_unexpected_open(
                session=session,
                settings=settings,
                vehicle=vehicle,
                at=event_in.occurred_at,
                now=now,
            )
    elif kind == "trunk_closed":
        attempt = _unsecured_attempt(session, vehicle.id)
        if attempt is not None and vehicle.lock_state != "locked":
            _send_lock(
                session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now
            )
    elif kind == "locked":
        # Every attempt the lock secures (two parcels may have gone into one trunk).
        for attempt in session.scalars(_UNSECURED_ATTEMPT_AT_CAR, {"vehicle_id": vehicle.id}).all():
            if _secured_since(vehicle, attempt):
                _mark_secured(session=session, settings=settings, attempt=attempt, now=now)
    elif kind == "position":
        _on_position(session=session, settings=settings, vehicle=vehicle, now=now)
    session.flush()
    return True


def _on_grant_used(
    *, session: Session, vehicle: Vehicle, event_in: VehicleEventIn, now: datetime
) -> None:
    """Reconcile a car's own report that it accepted a grant: the ledger records the use;
    a use of an unknown, revoked or already used grant is an incident."""
    grant = session.get(Grant, event_in.grant_id) if event_in.grant_id else None
    if grant is None or grant.vehicle_id != vehicle.id:
        incidents.open_incident(
            session=session,
            kind="unknown_grant_used",
            severity="critical",
            now=now,
            vehicle_id=vehicle.id,
            detail=f"{vehicle.plate} reports opening for a grant trunkdrop never issued to it",
        )
        return
    first, before = access.record_car_redemption(
        session=session, grant=grant, event_id=event_in.event_id, at=event_in.occurred_at, now=now
    )
    if not first:
        incidents.open_incident(
            session=session,
            kind="grant_reused",
            severity="critical",
            now=now,
            vehicle_id=vehicle.id,
            delivery_id=grant.delivery_id,
            attempt_id=grant.attempt_id,
            detail=f"{vehicle.plate} reports a second use of grant {grant.id}",
        )
    elif (
        before == "revoked"
        and grant.ended_at is not None
        and event_in.occurred_at >= grant.ended_at
    ):  # used before it was revoked, the car reporting late: a delivery, not an incident
        incidents.open_incident(
            session=session,
            kind="revoked_grant_used_offline",
            severity="high",
            now=now,
            vehicle_id=vehicle.id,
            delivery_id=grant.delivery_id,
            attempt_id=grant.attempt_id,
            detail=f"{vehicle.plate} accepted grant {grant.id} offline after it was revoked",
        )
    elif not grant.not_before <= event_in.occurred_at < grant.expires_at:
        incidents.open_incident(
            session=session,
            kind="grant_used_outside_validity",
            severity="high",
            now=now,
            vehicle_id=vehicle.id,
            delivery_id=grant.delivery_id,
            attempt_id=grant.attempt_id,
            detail=f"{vehicle.plate} reports using grant {grant.id} outside its validity (car clock?)",
        )


def _on_unexpected_open(
    *, session: Session, settings: Settings, vehicle: Vehicle, at: datetime, now: datetime
) -> None:
    """The trunk opened although no attempt is waiting for it: an unlock that had already left
    for the car when its attempt ended (owner blocked, car moved). Lock it again at once."""
    attempt = session.scalars(
        select(Attempt)
        .outerjoin(VehicleCommand, VehicleCommand.id == Attempt.unlock_command_id)
        .outerjoin(Grant, Grant.id == Attempt.grant_id)
        .where(
            Attempt.vehicle_id == vehicle.id,
            Attempt.trunk_opened_at.is_(None),
            Attempt.status == domain.AttemptStatus.failed,
            or_(
                # An unlock that had left for the car, and could still arrive (the car
                # refuses one past its expiry)...
                and_(
                    VehicleCommand.status.in_(("sent", "executed")),
                    VehicleCommand.expires_at >= at,
                ),
                # ...or a grant a car that checks grants itself may honour until it expires.
                and_(Attempt.unlock_command_id.is_(None), Grant.expires_at > at),
            ),
        )
        .order_by(Attempt.access_requested_at.desc())
    ).first()
    if attempt is None:
        return  # the owner opened their own trunk
    attempt.trunk_opened_at = at
    incidents.open_incident(
        session=session,
        kind="unexpected_trunk_open",
        severity="high",
        now=now,
        vehicle_id=vehicle.id,
        delivery_id=attempt.delivery_id,
        attempt_id=attempt.id,
        detail=f"trunk of {vehicle.plate} opened after its attempt ended ({attempt.failure_reason}); lock sent",
    )
    _send_lock(session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now)
    notify.emit(
        session=session,
        topic="vehicle.relock",
        recipient_ids=[vehicle.owner_id],
        now=now,
        delivery_id=attempt.delivery_id,
        payload={
            "vehicle_id": vehicle.id,
            "message": "your trunk opened after access was withdrawn; we are locking it",
        },
    )


def _on_command_result(
    *,
    session: Session,
    settings: Settings,
    vehicle: Vehicle,
    event_in: VehicleEventIn,
    now: datetime,
) -> None:
    command = session.get(VehicleCommand, event_in.command_id)
    if (
        command is None
        or command.vehicle_id != vehicle.id
        or command.status not in ("pending", "sent")
    ):
        return
    executed = event_in.type == "command_executed"
    vehicles.finish_command(
        command=command,
        status="executed" if executed else "rejected",
        now=now,
        detail=event_in.detail,
    )
    audit.append(
        session=session,
        actor=vehicle.brand,
        action=f"command.{'executed' if executed else 'rejected'}",
        subject=command.id,
        now=now,
        data={"kind": command.kind, "detail": event_in.detail},
    )
    if not executed and command.kind == "unlock_trunk" and command.attempt_id:
        attempt = session.get(Attempt, command.attempt_id)
        if attempt is not None and attempt.status == domain.AttemptStatus.unlocking:
            reason = {
                "expired": domain.Reason.command_expired,
                # The car did not see the grant's handset beside it: the driver is not there.
                HANDSET_NOT_NEAR: domain.Reason.driver_not_at_vehicle,
            }.get(event_in.detail or "", domain.Reason.trunk_not_opened)
            incidents.open_incident(
                session=session,
                kind="command_expired"
                if reason == domain.Reason.command_expired
                else "command_rejected",
                severity="medium",
                detail=f"unlock for {vehicle.plate} refused by the car: {event_in.detail}",
                now=now,
                vehicle_id=vehicle.id,
                delivery_id=attempt.delivery_id,
                attempt_id=attempt.id,
            )
            fail_attempt(
                session=session,
                settings=settings,
                attempt=attempt,
                reason=reason,
                detail=f"car refused the unlock: {event_in.detail}",
                now=now,
            )


def _on_position(*, session: Session, settings: Settings, vehicle: Vehicle, now: datetime) -> None:
    """A car that leaves its booked place while drivers are at it ends their attempts (each,
    with its own unlock: two parcels may wait at one car)."""
    if vehicle.latitude is None or vehicle.longitude is None:
        return
    for attempt in session.scalars(
        select(Attempt).where(Attempt.vehicle_id == vehicle.id, Attempt.status.in_(_NOT_OPEN))
    ).all():
        if attempt.option_seq is None or attempt.deposited_at is not None:
            continue  # the parcel is in (an offline car): the car's own reports settle it
        booked = deliveries.option(
            session=session, delivery_id=attempt.delivery_id, seq=attempt.option_seq
        )
        away = distance_m(vehicle.latitude, vehicle.longitude, booked.latitude, booked.longitude)
        if away > settings.vehicle_radius_m:
            fail_attempt(
                session=session,
                settings=settings,
                attempt=attempt,
                reason=domain.Reason.vehicle_moved,
                detail=f"the car moved {away} m from the booked place",
                now=now,
                only_if=_NOT_OPEN,
            )


# -- the owner's switches ------------------------------------------------------------------
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
    audit.append(
        session=session,
        actor=owner.id,
        action="vehicle.access_blocked" if blocked else "vehicle.access_unblocked",
        subject=vehicle.id,
        now=now,
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
    audit.append(
        session=session,
        actor=owner.id,
        action="vehicle.consent_withdrawn",
        subject=vehicle.id,
        now=now,
    )
    _kill_access(
        session=session,
        settings=settings,
        vehicle=vehicle,
        reason=domain.Reason.no_consent,
        now=now,
    )
    return vehicle


def _kill_access(
    *, session: Session, settings: Settings, vehicle: Vehicle, reason: str, now: datetime
) -> None:
    """Withdrawal kills live grants at once and ends any attempt that has not opened the trunk.

    In the lock order of `fail_attempt`: attempts, then the car's pending unlocks, then
    grants."""
    for attempt in session.scalars(
        select(Attempt).where(Attempt.vehicle_id == vehicle.id, Attempt.status.in_(_NOT_OPEN))
    ):
        fail_attempt(
            session=session,
            settings=settings,
            attempt=attempt,
            reason=reason,
            detail="the owner withdrew access",
            now=now,
            only_if=_NOT_OPEN,
        )
    _drop_pending_unlocks(session=session, vehicle_id=vehicle.id, now=now, why=reason)
    access.end_live_grants(session=session, now=now, reason=reason, vehicle_id=vehicle.id)
    session.flush()


def revoke_device(
    *, session: Session, settings: Settings, party: Party, device_id: str, now: datetime
) -> Device:
    """A lost or stolen handset, in one call: the device, every live grant bound to it, and
    every attempt it unlocked that has not opened a trunk yet (its unlock still waiting to
    be sent) die at once. An online car's grant is spent when it is issued, so killing
    live grants alone would let the queued unlock go out for the revoked handset."""
    device = devices.revoke_device(session=session, party=party, device_id=device_id, now=now)
    # In the lock order of `fail_attempt`: attempts, their unlocks, then the grants.
    for attempt in session.scalars(_UNLOCKING_FOR_DEVICE, {"device_id": device.id}):
        fail_attempt(
            session=session,
            settings=settings,
            attempt=attempt,
            reason=domain.Reason.device_revoked,
            detail="the driver's handset was revoked",
            now=now,
            only_if=(domain.AttemptStatus.unlocking,),
        )
    access.end_live_grants(session=session, now=now, reason="device_revoked", device_id=device.id)
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


# -- background work -----------------------------------------------------------------------
@dataclass
class WorkDone:
    sent: int = 0
    expired: int = 0
    relocks: int = 0
    grants_expired: int = 0
    positions_forgotten: int = 0
    revocations_pushed: int = 0
    keys_provisioned: int = 0
    offline_unreported: int = 0

    def total(self) -> int:
        return (
            self.sent + self.expired + self.relocks + self.grants_expired + self.positions_forgotten
        )


def dispatch_commands(
    *,
    session: Session,
    settings: Settings,
    registry: AdapterRegistry,
    now: datetime,
    done: WorkDone,
) -> None:
    """Send pending commands to the cars; expire those that ran out of time."""
    for command, vehicle in vehicles.commands_to_handle(session=session, now=now):
        if now >= command.expires_at:
            if _expire_command(
                session=session, settings=settings, command=command, vehicle=vehicle, now=now
            ):
                done.expired += 1
            continue
        if command.status != "pending":
            continue
        handset_key = None
        if command.kind == "unlock_trunk":
            verdict, handset_key = _unlock_verdict(session, command)
            if verdict == "wait":
                continue  # another transaction holds its attempt or handset: it decides
            if verdict == "drop":
                vehicles.finish_command(
                    command=command, status="dropped", now=now, detail="grant no longer valid"
                )
                continue
        adapter = registry.get(vehicle.brand)
        order = CommandOrder(
            command_id=command.id,
            vehicle_external_id=vehicle.external_id,
            kind="unlock_trunk" if command.kind == "unlock_trunk" else "lock",
            expires_at=command.expires_at,
            handset_key=handset_key,
        )
        command.tries += 1
        try:
            adapter.send_command(order, now=now)
        except VehicleAsleep:
            # Waking is an explicit, bounded step: the command stays pending until it expires.
            adapter.wake(external_id=vehicle.external_id, now=now)
            command.detail = "vehicle asleep; wake-up sent"
            if command.attempt_id is not None and command.tries == 1:
                attempt = session.get(Attempt, command.attempt_id)
                if attempt is not None:
                    deliveries.add_timeline(
                        session=session,
                        delivery_id=attempt.delivery_id,
                        kind="vehicle_waking",
                        text="the car was asleep; waking it",
                        now=now,
                    )
            continue
        except AdapterError as e:
            command.detail = f"{e.code}: {e}"[:200]
            continue
        command.status, command.sent_at = "sent", now
        done.sent += 1
    session.flush()


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
        audit.append(
            session=session,
            actor="platform",
            action="vehicle.keys_provisioned",
            subject=vehicle.id,
            now=now,
            data={"key_ids": sorted(public)},
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
    grant = session.get(Grant, command.grant_id) if command.grant_id else None
    if grant is None or grant.status != "redeemed" or command.attempt_id is None:
        return "drop", None
    attempt = session.scalars(_ATTEMPT_UNLESS_HELD, {"attempt_id": command.attempt_id}).first()
    if attempt is None:
        return "wait", None
    if attempt.status != domain.AttemptStatus.unlocking:
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
    audit.append(
        session=session,
        actor="platform",
        action="command.expired",
        subject=command.id,
        now=now,
        data={"kind": command.kind, "vehicle": vehicle.id},
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
    fail_attempt(
        session=session,
        settings=settings,
        attempt=attempt,
        reason=reason,
        detail="the car did not confirm the unlock in time",
        now=now,
        only_if=(domain.AttemptStatus.unlocking,),
    )
    return True


def watch_late_vans(*, session: Session, settings: Settings, now: datetime) -> None:
    """A van whose next stop's ETA passed long ago runs late: its route is re-ordered from
    where it is now (windows later on are missed otherwise). Today's routes only, within the
    shift, and at most once per `late_van_s` per route (a stop that cannot move keeps the
    van late; re-planning it again and again would change nothing)."""
    if not settings.auto_replan:
        return
    local = now.astimezone(ZoneInfo(settings.timezone))
    if local.hour >= settings.shift_end_hour:
        return
    late_since = now - timedelta(seconds=settings.late_van_s)
    for route in session.scalars(
        select(Route).where(Route.status == "started", Route.service_date == local.date())
    ):
        stop = dispatch.next_open_stop(session=session, route_id=route.id)
        if stop is None or stop.eta is None or stop.eta > late_since:
            continue
        if dispatch.has_attempt(session=session, stop_id=stop.id):
            continue  # the driver is at it
        last = dispatch.last_replan(session=session, route_id=route.id)
        if last is not None and last > late_since:
            continue
        dispatch.request_replan(session=session, route=route, reason="van_late", now=now)


def watch_offline_attempts(
    *, session: Session, settings: Settings, now: datetime, done: WorkDone
) -> None:
    """Attempts at cars that check grants themselves, whose car has not reported opening.

    Such a car tells the platform only when it is back in reach, and the driver's handset may
    be out of reach too (an underground garage): the platform cannot tell an unopened trunk
    from a delivery it has not heard of yet. So it fails nothing: once the grant has expired
    (the car itself refuses it from then on) and a grace period passed, one incident asks
    the operator to follow up; the car's own reports settle the attempt when they arrive.
    """
    grace = timedelta(seconds=settings.relock_after_s)
    for attempt, grant in session.execute(
        select(Attempt, Grant)
        .join(Grant, Grant.id == Attempt.grant_id)
        .where(
            Attempt.status == domain.AttemptStatus.unlocking,
            Attempt.unlock_command_id.is_(None),
            Attempt.trunk_opened_at.is_(None),
            Grant.expires_at <= now - grace,
        )
    ).all():
        seen = session.scalars(
            select(Incident.id).where(
                Incident.attempt_id == attempt.id, Incident.kind == "offline_report_missing"
            )
        ).first()
        if seen is not None:
            continue
        deposited = (
            "the driver confirmed the deposit"
            if attempt.deposited_at
            else "the driver has not confirmed a deposit"
        )
        incidents.open_incident(
            session=session,
            kind="offline_report_missing",
            severity="medium",
            now=now,
            vehicle_id=grant.vehicle_id,
            delivery_id=attempt.delivery_id,
            attempt_id=attempt.id,
            detail=f"grant expired; the car has not reported opening since ({deposited}); "
            "it reports when back in reach",
        )
        done.offline_unreported += 1
    session.flush()


def run_watchdog(*, session: Session, settings: Settings, now: datetime, done: WorkDone) -> None:
    """A trunk not closed and locked in time: send lock, retry, open an incident."""
    limit = now - timedelta(seconds=settings.relock_after_s)
    for attempt in session.scalars(
        select(Attempt).where(
            Attempt.trunk_opened_at.is_not(None),
            Attempt.secured_at.is_(None),
            Attempt.trunk_opened_at <= limit,
        )
    ):
        vehicle = session.get(Vehicle, attempt.vehicle_id)
        assert vehicle is not None
        if attempt.relock_tries == 0:
            incidents.open_incident(
                session=session,
                kind="trunk_not_locked",
                severity="high",
                now=now,
                vehicle_id=vehicle.id,
                delivery_id=attempt.delivery_id,
                attempt_id=attempt.id,
                detail=f"trunk of {vehicle.plate} not closed and locked {settings.relock_after_s // 60} min after unlock; lock sent",
            )
            notify.emit(
                session=session,
                topic="vehicle.relock",
                recipient_ids=[vehicle.owner_id],
                now=now,
                delivery_id=attempt.delivery_id,
                payload={
                    "vehicle_id": vehicle.id,
                    "message": "your trunk was not locked after the delivery; we are locking it",
                },
            )
        elif (
            attempt.last_relock_at is not None
            and (now - attempt.last_relock_at).total_seconds() < settings.relock_retry_s
        ):
            continue
        elif attempt.relock_tries >= settings.relock_max_tries:
            if attempt.relock_tries == settings.relock_max_tries:
                incidents.open_incident(
                    session=session,
                    kind="relock_failed",
                    severity="critical",
                    now=now,
                    vehicle_id=vehicle.id,
                    delivery_id=attempt.delivery_id,
                    attempt_id=attempt.id,
                    detail=f"{vehicle.plate} still not locked after {attempt.relock_tries} lock commands",
                )
                attempt.relock_tries += 1
            continue
        if (
            _send_lock(
                session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now
            )
            is not None
        ):
            attempt.relock_tries += 1
            attempt.last_relock_at = now
            done.relocks += 1
            deliveries.add_timeline(
                session=session,
                delivery_id=attempt.delivery_id,
                kind="relock",
                text="trunk not locked in time; lock sent by trunkdrop",
                now=now,
            )
    session.flush()


def sweep(*, session: Session, settings: Settings, now: datetime, done: WorkDone) -> None:
    """Expire grants that ran out; forget car positions no delivery needs any more."""
    done.grants_expired += access.expire_grants(session=session, now=now)
    devices.purge_nonces(session=session, now=now, retention_s=settings.nonce_retention_s)
    cutoff = now - timedelta(seconds=settings.position_retention_s)
    busy = select(Delivery.vehicle_id).where(
        Delivery.status.in_((domain.DeliveryStatus.booked, domain.DeliveryStatus.out_for_delivery))
    )
    for vehicle in session.scalars(
        select(Vehicle).where(
            Vehicle.position_at.is_not(None), Vehicle.position_at < cutoff, Vehicle.id.not_in(busy)
        )
    ):
        vehicles.forget_position(vehicle=vehicle)
        done.positions_forgotten += 1
    session.flush()
