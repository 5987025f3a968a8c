"""The driver at the car or the door: start an attempt, ask for the trunk, confirm the
deposit or the handover, report a failure. Skipping a place the car has left is in
`reroute`; reading an attempt back is in `attempt_reads`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from trunkdrop.access import service as access
from trunkdrop.access.models import Grant
from trunkdrop.access.tokens import TRUNK_UNLOCK, Keyring
from trunkdrop.config import Settings
from trunkdrop.deliveries import attempt_reads, domain, lookups, outcomes
from trunkdrop.deliveries.models import Attempt, Delivery, DeliveryOption
from trunkdrop.deliveries.schemas import AccessGranted, AttemptRead, AttemptStart
from trunkdrop.devices import service as devices
from trunkdrop.devices.models import DeviceNonce, DriverFix
from trunkdrop.devices.schemas import DeviceProof
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.errors import AccessRefused, Conflict, Forbidden, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party
from trunkdrop.schemas import Position
from trunkdrop.store.base import new_id, table_of
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle, VehicleCommand

_ATTEMPT_AT_STOP = select(Attempt.id).where(Attempt.stop_id == bindparam("stop_id"))

# What starting an attempt checks about its stop, in one statement (built once): its route
# and delivery, the driver's next stop, an attempt already there, and the driver's last fix
# (then held: `_follow_track` reads no more). The subqueries stand on their own
# (`correlate(None)`): the driver's next stop is looked for among all their started
# routes, not in the route selected here.
_AT_THE_STOP = (
    select(
        Route,
        Delivery,
        DriverFix,
        dispatch.drivers_open_stops(driver_id=bindparam("driver_id"))
        .with_only_columns(RouteStop.id)
        .limit(1)
        .correlate(None)
        .scalar_subquery(),
        _ATTEMPT_AT_STOP.limit(1).correlate(None).scalar_subquery(),
    )
    .select_from(Route)
    .join(Delivery, Delivery.id == bindparam("delivery_id"))
    .outerjoin(DriverFix, DriverFix.driver_id == bindparam("driver_id"))
    .where(Route.id == bindparam("route_id"))
)

# Another attempt at the car that may still open it.
_OTHER_ATTEMPT = select(Attempt.id).where(
    Attempt.id != bindparam("attempt_id"),
    or_(
        Attempt.status.in_((domain.AttemptStatus.unlocking, domain.AttemptStatus.trunk_open)),
        # An attempt that ended while its unlock was on its way to the car: until the car
        # answers or the unlock runs out, an opening could be that unlock, not this one's.
        Attempt.unlock_command_id.in_(
            select(VehicleCommand.id).where(
                VehicleCommand.status.in_(("sending", "sent")),
                VehicleCommand.expires_at > bindparam("now"),
            )
        ),
    ),
)
_OTHER_ATTEMPT_AT_CAR = _OTHER_ATTEMPT.where(Attempt.vehicle_id == bindparam("vehicle_id"))

# A live grant on the car, or another attempt at it that may still open it: one statement.
_CAR_BUSY = select(
    or_(
        exists().where(
            Grant.vehicle_id == bindparam("vehicle_id"),
            Grant.status == "live",
            Grant.expires_at > bindparam("now"),
        ),
        _OTHER_ATTEMPT_AT_CAR.exists(),
    )
)

# What an access request checks about the delivery at the car, in one statement (built
# once): the delivery, its car and the booked place, the driver's last fix, whether the car
# is busy (`_CAR_BUSY`), and whether a grant of the car ran out unswept (else issuing the
# grant needs no sweep).
_ACCESS_FACTS = (
    select(
        Delivery,
        Vehicle,
        DeliveryOption,
        DriverFix,
        or_(
            exists().where(
                Grant.vehicle_id == Vehicle.id,
                Grant.status == "live",
                Grant.expires_at > bindparam("now"),
            ),
            _OTHER_ATTEMPT.where(Attempt.vehicle_id == Vehicle.id).exists(),
        ),
        exists().where(
            Grant.vehicle_id == Vehicle.id,
            Grant.status == "live",
            Grant.expires_at <= bindparam("now"),
        ),
    )
    .join(Vehicle, Vehicle.id == Delivery.vehicle_id)
    .join(
        DeliveryOption,
        and_(DeliveryOption.delivery_id == Delivery.id, DeliveryOption.seq == bindparam("seq")),
    )
    .outerjoin(DriverFix, DriverFix.driver_id == bindparam("driver_id"))
    .where(Delivery.id == bindparam("delivery_id"))
)

_CLAIM_ACCESS = (
    update(table_of(Attempt))
    .where(
        table_of(Attempt).c.id == bindparam("attempt_id"),
        table_of(Attempt).c.status == domain.AttemptStatus.started,
    )
    .values(status=domain.AttemptStatus.unlocking, access_requested_at=bindparam("at"))
)


def own_attempt(session: Session, driver: Party, attempt_id: str) -> Attempt:
    # Lock the attempt first: every change to it then runs one at a time, and row locks
    # are always taken in the same order (attempt, then what it touches).
    # As `session.get(..., with_for_update=True)` does, with the statement built once.
    attempt = session.scalars(_ATTEMPT_FOR_UPDATE, {"attempt_id": attempt_id}).one_or_none()
    if attempt is None:
        raise NotFound(f"no attempt with id {attempt_id!r}", field="attempt_id")
    if attempt.driver_id != driver.id:
        raise Forbidden("this attempt is another driver's")
    return attempt


_ATTEMPT_FOR_UPDATE = select(Attempt).where(Attempt.id == bindparam("attempt_id")).with_for_update()


# After the attempt's lock, a deposit reads the attempt's delivery and car in one more
# statement. Not in the locking statement: on PostgreSQL a statement's rows are those of
# the snapshot it started with, before it waited for the lock, so a car report holding the
# attempt (a "trunk opened" that also wrote the car) would leave the deposit deciding on
# the car as it stood before (a lock queued while the trunk is open).
_DELIVERY_AND_CAR = (
    select(Delivery, Vehicle)
    .select_from(Attempt)
    .join(Delivery, Delivery.id == Attempt.delivery_id)
    .outerjoin(Vehicle, Vehicle.id == Attempt.vehicle_id)
    .where(Attempt.id == bindparam("attempt_id"))
    .execution_options(populate_existing=True)
)


def _own_attempt_at_the_car(
    session: Session, driver: Party, attempt_id: str
) -> tuple[Attempt, Delivery, Vehicle | None]:
    """`own_attempt`, then the attempt's delivery and car as they are once it is locked."""
    attempt = own_attempt(session, driver, attempt_id)
    delivery, vehicle = session.execute(_DELIVERY_AND_CAR, {"attempt_id": attempt.id}).one()
    return attempt, delivery, vehicle


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
    # Read after the stop's lock (a re-plan that held it has committed by now), in one
    # statement: its route, the driver's next stop, an attempt already there, the delivery.
    found = session.execute(
        _AT_THE_STOP,
        {
            "route_id": stop.route_id,
            "delivery_id": stop.delivery_id,
            "driver_id": driver.id,
            "stop_id": stop.id,
        },
    ).one_or_none()
    if found is None:  # pragma: no cover - foreign keys: named as the lookups name them
        dispatch.get_route(session=session, route_id=stop.route_id)
        lookups.get_delivery(session=session, delivery_id=stop.delivery_id)
        raise NotFound("the stop's route or delivery is gone")
    route, delivery, _, next_stop_id, attempt_there = found
    if route.driver_id != driver.id:
        raise Forbidden("this stop is on another driver's route")
    if route.status != "started":
        raise Conflict(f"the route is {route.status}; start it first", code="route_not_started")
    if stop.status != "pending":
        raise Conflict(f"this stop is {stop.status}", code="stop_finished")
    # The one stop the app shows as next (`is_next`): not merely the first open stop of
    # this route, since a driver may have another route started.
    if next_stop_id != stop.id:
        raise Conflict("finish the earlier stops of the route first", code="stop_not_open")
    if attempt_there is not None:
        raise Conflict("an attempt at this stop already exists", code="attempt_exists")
    pickup = domain.is_pickup(delivery.purpose)
    # A pickup's parcel is in the trunk: its label is scanned there (`collect`).
    if not pickup and attempt_in.scanned_parcel_ref != delivery.parcel_ref:
        events.record(
            session=session,
            event=Event(
                kind="attempt.refused",
                at=now,
                subject=stop.id,
                actor=driver.id,
                facts={"reason": "parcel_mismatch"},
            ),
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
        scanned_parcel_ref="" if pickup else (attempt_in.scanned_parcel_ref or ""),
    )
    session.add(attempt)
    session.flush()
    where = "at the car" if stop.mode == "trunk" else "at the door"
    if pickup:
        where += " to collect the parcel"
    events.record(
        session=session,
        event=Event(
            kind="attempt.started",
            at=now,
            subject=delivery.id,
            delivery_id=delivery.id,
            text=f"driver arrived {where}",
        ),
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
    device = None
    if attempt_in.device_id is not None:
        # Checked before the attempt exists: a refusal is kept (audited), so it must not
        # be able to keep a half-done step with it. Held in `device` until the challenge:
        # the session keeps only objects something refers to, and its check finds it there.
        device = devices.require_usable_device(
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
    if device is None:
        return attempt, None
    # The attempt is this driver's own, just started: the challenge needs no second look.
    nonce = devices.issue_challenge(
        session=session,
        driver=driver,
        device_id=device.id,
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
    attempt = attempt_reads.get_attempt(session=session, attempt_id=attempt_id)
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
    attempt = own_attempt(session, driver, attempt_id)
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
    assert attempt.option_seq is not None
    facts = session.execute(
        _ACCESS_FACTS,
        {
            "delivery_id": attempt.delivery_id,
            "seq": attempt.option_seq,
            "driver_id": driver.id,
            "attempt_id": attempt.id,
            "now": now,
        },
    ).one_or_none()
    if facts is not None:
        # The driver's fix, when there is one, is now held: `_follow_track` reads no more.
        delivery, vehicle, booked, _, car_busy, ran_out = facts
        busy = bool(car_busy)
    else:  # named as the lookups name what is missing
        delivery, vehicle, booked = lookups.delivery_at_the_car(
            session=session, delivery_id=attempt.delivery_id, seq=attempt.option_seq
        )
        busy = bool(
            session.scalar(
                _CAR_BUSY, {"vehicle_id": vehicle.id, "attempt_id": attempt.id, "now": now}
            )
        )
        ran_out = True
    car_verifies = vehicles.capabilities_of(vehicle).offline_grants
    ctx = domain.AccessContext(
        now=now,
        window=domain.TimeWindow(booked.window_start, booked.window_end),
        place_lat=booked.latitude,
        place_lon=booked.longitude,
        vehicle_lat=vehicle.latitude,
        vehicle_lon=vehicle.longitude,
        vehicle_position_at=vehicle.position_at,
        vehicle_online=vehicle.online,
        vehicle_blockers=tuple(vehicles.trunk_delivery_blockers(vehicle, now=now)),
        driver_lat=position.latitude,
        driver_lon=position.longitude,
        vehicle_radius_m=settings.vehicle_radius_m,
        driver_radius_m=settings.driver_radius_m,
        position_max_age_s=settings.position_max_age_s,
        live_grant_on_vehicle=busy,
        car_verifies_grant=car_verifies,
        nothing_to_collect=domain.is_pickup(delivery.purpose) and delivery.parcel_ready_at is None,
    )
    refusals = domain.access_refusals(ctx)
    if refusals:
        first = next((r for r in refusals if r.final), refusals[0])
        events.record(
            session=session,
            event=Event(
                kind="access.refused",
                at=now,
                subject=attempt.id,
                actor=driver.id,
                facts={"vehicle": vehicle.id, "reasons": [r.code for r in refusals]},
            ),
        )
        if first.final:
            outcomes.fail_attempt(
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
        # Nor past the car maker's consent: a car checking the grant itself refuses it then.
        window_end=min(booked.window_end, vehicle.consent_expires_at or booked.window_end),
        lifetime_s=settings.grant_lifetime_s,
        now=now,
        sweep=bool(ran_out),
    )
    if car_verifies:
        attempt.grant_id = grant.id
        events.record(
            session=session,
            event=Event(
                kind="access.granted",
                at=now,
                subject=delivery.id,
                delivery_id=delivery.id,
                text="trunk access granted; the car checks the grant itself",
            ),
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
    events.record(
        session=session,
        event=Event(
            kind="command.unlock_trunk",
            at=now,
            subject=command.id,
            facts={
                "vehicle": vehicle.id,
                "grant": grant.id,
                "expires_at": command_expires.isoformat(),
            },
        ),
    )
    events.record(
        session=session,
        event=Event(
            kind="access.granted",
            at=now,
            subject=delivery.id,
            delivery_id=delivery.id,
            text="trunk access granted; unlocking",
        ),
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
    *,
    session: Session,
    settings: Settings,
    driver: Party,
    attempt_id: str,
    now: datetime,
    scanned_parcel_ref: str | None = None,
) -> Attempt:
    attempt, delivery, vehicle = _own_attempt_at_the_car(session, driver, attempt_id)
    if attempt.mode != "trunk":
        raise Conflict("use handover for a home delivery", code="not_a_trunk_stop")
    if domain.is_pickup(delivery.purpose):
        raise Conflict(
            "a pickup is confirmed by scanning its label: use collect", code="not_a_delivery"
        )
    if scanned_parcel_ref is not None and scanned_parcel_ref != delivery.parcel_ref:
        # Checked again at the trunk: the parcel in hand at the stop may not be the one
        # that goes in. Refused and audited; the driver can still deposit the right one.
        events.record(
            session=session,
            event=Event(
                kind="attempt.refused",
                at=now,
                subject=attempt.id,
                actor=driver.id,
                facts={"reason": "parcel_mismatch", "at": "deposit"},
            ),
        )
        raise AccessRefused(
            "the scanned parcel is not the one booked for this trunk",
            code="parcel_mismatch",
            field="scanned_parcel_ref",
        )
    if (
        attempt.status == domain.AttemptStatus.unlocking
        and attempt.unlock_command_id is None
        and attempt.grant_id is not None
        and attempt.deposited_at is None
    ):
        # A car that checks grants itself opened without the platform: its report comes
        # when it is back in reach; until then the driver's word is kept, not trusted.
        attempt.deposited_at = now
        events.record(
            session=session,
            event=Event(
                kind="attempt.deposited",
                at=now,
                subject=attempt.delivery_id,
                delivery_id=attempt.delivery_id,
                text="driver reports the parcel in the trunk; waiting for the car's own report",
            ),
        )
        session.flush()
        return attempt
    outcomes.transition(attempt, domain.AttemptStatus.deposited)
    attempt.deposited_at = now
    events.record(
        session=session,
        event=Event(
            kind="attempt.deposited",
            at=now,
            subject=attempt.delivery_id,
            delivery_id=attempt.delivery_id,
            facts={"scanned_at_trunk": scanned_parcel_ref is not None},
            text="parcel scanned and placed in the trunk"
            if scanned_parcel_ref is not None
            else "parcel placed in the trunk",
        ),
    )
    _await_lock(session=session, settings=settings, attempt=attempt, now=now, vehicle=vehicle)
    return attempt


def collect(
    *,
    session: Session,
    settings: Settings,
    driver: Party,
    attempt_id: str,
    scanned_label: str,
    now: datetime,
) -> Attempt:
    """The driver scanned the label of the parcel in the open trunk. The booked one: taken
    out, and the pickup is collected once the car reports closed and locked (as a delivery
    is delivered). Another label: the attempt fails with `label_mismatch` and the parcel
    stays; the trunk is closed and locked as after any attempt that opened it."""
    attempt = own_attempt(session, driver, attempt_id)
    delivery = lookups.get_delivery(session=session, delivery_id=attempt.delivery_id)
    if not domain.is_pickup(delivery.purpose):
        raise Conflict("a delivery is confirmed with deposit", code="not_a_pickup")
    if attempt.status != domain.AttemptStatus.trunk_open:
        raise Conflict(
            f"the label is scanned in the open trunk; this attempt is {attempt.status}",
            code="trunk_not_open",
            extra={"attempt_status": attempt.status},
        )
    attempt.scanned_parcel_ref = scanned_label[:64]
    if not domain.label_matches(
        scanned_label, tracking_number=delivery.parcel_ref, code_payload=delivery.label_code
    ):
        outcomes.fail_attempt(
            session=session,
            settings=settings,
            attempt=attempt,
            reason=domain.Reason.label_mismatch,
            detail="the label in the trunk is not the booked one; the parcel stays",
            now=now,
        )
        vehicle = session.get(Vehicle, attempt.vehicle_id)
        if vehicle is not None and vehicle.trunk_state == "closed":
            outcomes.send_lock(
                session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now
            )
        session.flush()
        raise AccessRefused(
            "the scanned label is not the one booked for this pickup: leave the parcel, "
            "close the trunk",
            code=domain.Reason.label_mismatch,
            field="scanned_label",
            extra={"attempt_status": attempt.status},
        )
    outcomes.transition(attempt, domain.AttemptStatus.deposited)
    attempt.deposited_at = now
    events.record(
        session=session,
        event=Event(
            kind="attempt.collected",
            at=now,
            subject=attempt.delivery_id,
            delivery_id=attempt.delivery_id,
            facts={"tracking_number": delivery.parcel_ref},
            text="parcel taken out of the trunk, its label scanned",
        ),
    )
    _await_lock(session=session, settings=settings, attempt=attempt, now=now)
    return attempt


def _await_lock(
    *,
    session: Session,
    settings: Settings,
    attempt: Attempt,
    now: datetime,
    vehicle: Vehicle | None = None,
) -> None:
    """The driver's part is done: finish at once if the car already reported closed and
    locked since it opened, else lock a closed trunk; the car's report decides. `vehicle`:
    the attempt's car, when the caller read it already."""
    if vehicle is None:
        vehicle = session.get(Vehicle, attempt.vehicle_id)
    assert vehicle is not None
    if outcomes.secured_since(vehicle, attempt):
        outcomes.mark_secured(session=session, settings=settings, attempt=attempt, now=now)
    elif vehicle.trunk_state == "closed":
        outcomes.send_lock(
            session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now
        )
    session.flush()


def confirm_handover(
    *, session: Session, settings: Settings, driver: Party, attempt_id: str, now: datetime
) -> Attempt:
    attempt = own_attempt(session, driver, attempt_id)
    if attempt.mode != "home":
        raise Conflict(
            "a trunk delivery is confirmed by the car, not by hand", code="not_a_home_stop"
        )
    outcomes.transition(attempt, domain.AttemptStatus.succeeded)
    attempt.ended_at = now
    outcomes.finish_delivered(
        session=session, settings=settings, attempt=attempt, outcome="delivered_home", now=now
    )
    return attempt
