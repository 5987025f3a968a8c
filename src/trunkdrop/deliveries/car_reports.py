"""A car's report folded into the platform: its attempts, grants, commands and incidents."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from trunkdrop.access import service as access
from trunkdrop.access.models import Grant
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, outcomes
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Attempt, Delivery, DeliveryOption
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.geo import distance_m
from trunkdrop.incidents import service as incidents
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle, VehicleCommand
from trunkdrop.vehicles.ports import (
    HANDSET_NOT_NEAR,
)
from trunkdrop.vehicles.schemas import VehicleEventIn

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


def _position_needed(
    *, session: Session, settings: Settings, vehicle_id: str, at: datetime
) -> tuple[bool, bool]:
    """Whether a delivery needs the car's position reported at `at`: (any pending delivery
    of the car, one whose window, widened by the margin, holds `at`). Positions are personal
    data: a car nobody delivers to has none stored, and the event log keeps coordinates
    only around a booked window."""
    margin = timedelta(seconds=settings.position_window_margin_s)
    pending = (
        select(DeliveryOption.window_start, DeliveryOption.window_end)
        .join(Delivery, Delivery.id == DeliveryOption.delivery_id)
        .where(
            Delivery.vehicle_id == vehicle_id,
            Delivery.status.in_(
                (domain.DeliveryStatus.booked, domain.DeliveryStatus.out_for_delivery)
            ),
        )
    )
    windows = session.execute(pending).all()
    in_window = any(start - margin <= at <= end + margin for start, end in windows)
    return bool(windows), in_window


def _answers_access(attempt: Attempt, opened_at: datetime) -> bool:
    """An opening the car made after the driver was granted access can answer it; one made
    before (the owner's own, reported late) cannot, and so cannot start the clock that a
    later "closed and locked" is measured against."""
    granted = attempt.access_requested_at
    return granted is not None and opened_at >= granted


def _unsecured_attempt(session: Session, vehicle_id: str) -> Attempt | None:
    """The attempt (if any) that opened this car's trunk and has not seen it locked since."""
    return session.scalars(_UNSECURED_ATTEMPT_AT_CAR, {"vehicle_id": vehicle_id}).first()


def ingest_vehicle_event(
    *, session: Session, settings: Settings, brand: str, event_in: VehicleEventIn, now: datetime
) -> bool:
    """Fold a car maker's event into the platform and react to it. False when a duplicate."""
    event_in = vehicles.bounded_report(
        event_in, received_at=now, max_ahead_s=settings.report_max_ahead_s
    )
    vehicle = vehicles.find_by_external_id(
        session=session, brand=brand, external_id=event_in.vehicle_id
    )
    log_position = keep_position = True
    if event_in.type == "position":
        keep_position, log_position = _position_needed(
            session=session, settings=settings, vehicle_id=vehicle.id, at=event_in.occurred_at
        )
    vehicle, new = vehicles.record_event(
        session=session,
        brand=brand,
        event_in=event_in,
        now=now,
        vehicle=vehicle,
        log_position=log_position,
        keep_position=keep_position,
    )
    if not new:
        return False
    kind = event_in.type
    if kind in ("locked", "unlocked", "trunk_opened", "trunk_closed"):
        events.record(
            session=session,
            event=Event(
                kind=f"vehicle.{kind}",
                at=now,
                subject=vehicle.id,
                actor=brand,
                facts={"event": event_in.event_id},
            ),
        )
    if kind in ("command_executed", "command_rejected") and event_in.command_id:
        _on_command_result(
            session=session, settings=settings, vehicle=vehicle, event_in=event_in, now=now
        )
    elif kind == "grant_used":
        _on_grant_used(session=session, vehicle=vehicle, event_in=event_in, now=now)
    elif kind == "grant_refused":
        events.record(
            session=session,
            event=Event(
                kind="grant.refused",
                at=now,
                subject=(event_in.grant_id or vehicle.id)[:64],
                actor=brand,
                facts={"vehicle": vehicle.id, "reason": event_in.detail, "by": "car"},
            ),
        )
    elif kind == "trunk_opened":
        attempt = session.scalars(_UNLOCKING_ATTEMPT_AT_CAR, {"vehicle_id": vehicle.id}).first()
        if attempt is not None and _answers_access(attempt, event_in.occurred_at):
            outcomes.transition(attempt, domain.AttemptStatus.trunk_open)
            attempt.trunk_opened_at = event_in.occurred_at
            events.record(
                session=session,
                event=Event(
                    kind="attempt.trunk_open",
                    at=now,
                    subject=attempt.delivery_id,
                    delivery_id=attempt.delivery_id,
                    text="the car reported the trunk open",
                ),
            )
            if attempt.deposited_at is not None:
                # An offline car: the driver confirmed before the car's report arrived.
                outcomes.transition(attempt, domain.AttemptStatus.deposited)
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
            outcomes.send_lock(
                session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now
            )
    elif kind == "locked":
        # Every attempt the lock secures (two parcels may have gone into one trunk).
        for attempt in session.scalars(_UNSECURED_ATTEMPT_AT_CAR, {"vehicle_id": vehicle.id}).all():
            if outcomes.secured_since(vehicle, attempt):
                outcomes.mark_secured(session=session, settings=settings, attempt=attempt, now=now)
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
                    VehicleCommand.status.in_(("sending", "sent", "executed")),
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
    outcomes.send_lock(
        session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now
    )
    events.record(
        session=session,
        event=Event(
            kind="vehicle.relock",
            at=now,
            subject=vehicle.id,
            delivery_id=attempt.delivery_id,
            facts={"vehicle_id": vehicle.id},
            text="your trunk opened after access was withdrawn; we are locking it",
            parties=(vehicle.owner_id,),
        ),
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
        or command.status not in ("pending", "sending", "sent")
    ):
        return
    executed = event_in.type == "command_executed"
    vehicles.finish_command(
        command=command,
        status="executed" if executed else "rejected",
        now=now,
        detail=event_in.detail,
    )
    events.record(
        session=session,
        event=Event(
            kind="command.executed" if executed else "command.rejected",
            at=now,
            subject=command.id,
            actor=vehicle.brand,
            facts={"kind": command.kind, "detail": event_in.detail},
        ),
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
            outcomes.fail_attempt(
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
        select(Attempt).where(
            Attempt.vehicle_id == vehicle.id, Attempt.status.in_(outcomes.NOT_OPEN)
        )
    ).all():
        if attempt.option_seq is None or attempt.deposited_at is not None:
            continue  # the parcel is in (an offline car): the car's own reports settle it
        booked = deliveries.option(
            session=session, delivery_id=attempt.delivery_id, seq=attempt.option_seq
        )
        away = distance_m(vehicle.latitude, vehicle.longitude, booked.latitude, booked.longitude)
        if away > settings.vehicle_radius_m:
            outcomes.fail_attempt(
                session=session,
                settings=settings,
                attempt=attempt,
                reason=domain.Reason.vehicle_moved,
                detail=f"the car moved {away} m from the booked place",
                now=now,
                only_if=outcomes.NOT_OPEN,
            )
