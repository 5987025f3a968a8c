"""How an attempt ends: failed (its grant killed, the fallback policy applied), delivered,
secured by the car's lock; and the lock and unlock commands that go or are dropped with it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from trunkdrop.access import service as access
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, lookups
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Attempt, Delivery
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.errors import Conflict, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.incidents import service as incidents
from trunkdrop.parties.models import Party
from trunkdrop.pickup_points import service as pickup_points
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle, VehicleCommand

_OPEN_LOCK_COMMAND = select(VehicleCommand).where(
    VehicleCommand.vehicle_id == bindparam("vehicle_id"),
    VehicleCommand.kind == "lock",
    VehicleCommand.status.in_(("pending", "sending", "sent")),
)


def transition(attempt: Attempt, target: domain.AttemptStatus) -> None:
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
        drop_pending_unlocks(
            session=session,
            vehicle_id=attempt.vehicle_id,
            attempt_id=attempt.id,
            now=now,
            why=f"attempt failed: {reason}",
        )
    transition(attempt, domain.AttemptStatus.failed)
    attempt.failure_reason, attempt.failure_detail, attempt.ended_at = reason, detail[:300], now
    access.end_live_grants(
        session=session, now=now, reason=f"attempt_failed:{reason}", attempt_id=attempt.id
    )
    stop = session.get(RouteStop, attempt.stop_id)
    assert stop is not None
    dispatch.finish_stop(stop=stop, status="failed")
    delivery = lookups.get_delivery(session=session, delivery_id=attempt.delivery_id)
    events.record(
        session=session,
        event=Event(
            kind="attempt.failed",
            at=now,
            subject=attempt.id,
            delivery_id=delivery.id,
            facts={"reason": reason},
            text=f"attempt failed: {reason.replace('_', ' ')}",
        ),
    )
    fall_back(
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
NOT_OPEN = (domain.AttemptStatus.started, domain.AttemptStatus.unlocking)
_ATTEMPT_STATUS_LOCKED = (
    select(Attempt.status).where(Attempt.id == bindparam("attempt_id")).with_for_update()
)


def fall_back(
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
        for o in lookups.options_of(session=session, delivery_id=delivery.id)
    ]
    pickup = domain.is_pickup(delivery.purpose)
    # Looked up only where the policy could send the parcel there: a delivery on its last
    # resort (at the door, or with no door to go to).
    point = (
        pickup_points.choose_point(session=session, settings=settings, delivery=delivery, now=now)
        if not pickup and (mode == "home" or delivery.fallback_address is None)
        else None
    )
    decision = domain.decide_fallback(
        options=options,
        current_seq=option_seq,
        mode=mode,
        reason=reason,
        now=now,
        has_fallback_address=delivery.fallback_address is not None,
        pickup=pickup,
        pickup_point_with_room=point is not None,
    )
    route = session.get(Route, stop.route_id)
    assert route is not None
    if decision.kind == domain.FallbackKind.next_place:
        kind = "delivery.next_place"
        nxt = lookups.option(session=session, delivery_id=delivery.id, seq=decision.option_seq or 0)
        delivery.current_option = nxt.seq
        dispatch.add_stop(
            session=session, route=route, delivery_id=delivery.id, mode="trunk", option_seq=nxt.seq
        )
        text = f"will try the car at {nxt.label}, {deliveries.local_time(nxt.window_start, settings)}–{deliveries.local_time(nxt.window_end, settings)}"
    elif decision.kind == domain.FallbackKind.home:
        kind, delivery.mode, delivery.current_option = "delivery.to_home", "home", None
        dispatch.add_stop(
            session=session, route=route, delivery_id=delivery.id, mode="home", option_seq=None
        )
        text = f"will deliver to the fallback address: {delivery.fallback_address}"
    elif decision.kind == domain.FallbackKind.pickup_point:
        assert point is not None
        # Its own event (the code goes to the customer alone): nothing more to record here.
        pickup_points.hold(
            session=session,
            settings=settings,
            delivery=delivery,
            point=point,
            reason=reason,
            now=now,
        )
        dispatch.maybe_finish_route(session=session, route_id=route.id)
        return
    elif decision.kind == domain.FallbackKind.not_collected:
        delivery.status = domain.check_delivery_transition(
            delivery.status, domain.DeliveryStatus.not_collected
        )
        delivery.outcome, delivery.outcome_reason, delivery.ended_at = (
            "not_collected",
            reason,
            now,
        )
        kind, text = "delivery.not_collected", f"not collected: {reason.replace('_', ' ')}"
        dispatch.maybe_finish_route(session=session, route_id=route.id)
    else:
        delivery.status = domain.check_delivery_transition(
            delivery.status, domain.DeliveryStatus.returned_to_sender
        )
        delivery.outcome, delivery.outcome_reason, delivery.ended_at = (
            "returned_to_sender",
            reason,
            now,
        )
        kind, text = "delivery.returned_to_sender", "going back to the sender"
        dispatch.maybe_finish_route(session=session, route_id=route.id)
    if decision.kind in (domain.FallbackKind.next_place, domain.FallbackKind.home) and (
        settings.auto_replan
    ):
        # The new stop went to the end of this van's route: the planner puts it where it fits.
        dispatch.request_replan(session=session, route=route, reason="stop_failed", now=now)
    events.record(
        session=session,
        event=Event(
            kind=kind,
            at=now,
            subject=delivery.id,
            delivery_id=delivery.id,
            facts={"reason": reason, "fallback": decision.kind},
            text=text,
            parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
        ),
    )
    session.flush()


def finish_delivered(
    *,
    session: Session,
    settings: Settings,
    attempt: Attempt,
    outcome: str,
    now: datetime,
    stops_open: bool | None = None,
) -> None:
    """The delivery is done (`stops_open`: whether its route has other open stops, if the
    caller read it in this transaction)."""
    delivery = lookups.get_delivery(session=session, delivery_id=attempt.delivery_id)
    pickup = domain.is_pickup(delivery.purpose)
    if pickup:
        # The car closed and locked after the parcel came out (or the customer handed it
        # over at the door): the pickup is done.
        outcome = "collected_trunk" if attempt.mode == "trunk" else "collected_door"
    delivery.status = domain.check_delivery_transition(
        delivery.status,
        domain.DeliveryStatus.collected if pickup else domain.DeliveryStatus.delivered,
    )
    delivery.outcome, delivery.ended_at = outcome, now
    stop = session.get(RouteStop, attempt.stop_id)
    assert stop is not None
    dispatch.finish_stop(stop=stop, status="done")
    dispatch.maybe_finish_route(session=session, route_id=stop.route_id, stops_open=stops_open)
    if pickup:
        events.record(
            session=session,
            event=Event(
                kind="delivery.collected",
                at=now,
                subject=delivery.id,
                delivery_id=delivery.id,
                facts={"outcome": outcome, "tracking_number": delivery.parcel_ref},
                text=f"collected from the trunk, trunk locked at {deliveries.local_time(now, settings)}"
                if attempt.mode == "trunk"
                else f"collected at the door at {deliveries.local_time(now, settings)}",
                parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
            ),
        )
        session.flush()
        return
    if outcome == "delivered_trunk":
        text = f"delivered, trunk locked at {deliveries.local_time(now, settings)}"
    else:
        text = f"delivered to {delivery.fallback_address} at {deliveries.local_time(now, settings)}"
    events.record(
        session=session,
        event=Event(
            kind="delivery.delivered",
            at=now,
            subject=delivery.id,
            delivery_id=delivery.id,
            facts={"outcome": outcome},
            text=text,
            parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
        ),
    )
    session.flush()


def secured_since(vehicle: Vehicle, attempt: Attempt) -> bool:
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


def mark_secured(
    *,
    session: Session,
    settings: Settings,
    attempt: Attempt,
    now: datetime,
    not_locked_open: bool | None = None,
    stops_open: bool | None = None,
) -> None:
    """The car reported the attempt's trunk closed and locked. What the caller read in this
    transaction is not looked up again: `not_locked_open`, whether the attempt has an open
    `trunk_not_locked` incident; `stops_open`, whether its route has other open stops
    (None: looked up here)."""
    attempt.secured_at = now
    if not_locked_open is not False:
        incidents.resolve_open(
            session=session,
            attempt_id=attempt.id,
            kind="trunk_not_locked",
            resolution="car reported trunk closed and locked",
            now=now,
        )
    events.record(
        session=session,
        event=Event(
            kind="attempt.secured",
            at=now,
            subject=attempt.vehicle_id or attempt.id,
            delivery_id=attempt.delivery_id,
            facts={"attempt": attempt.id},
            text="car reported trunk closed and locked",
        ),
    )
    vehicle = session.get(Vehicle, attempt.vehicle_id) if attempt.vehicle_id else None
    if attempt.relock_tries > 0 and vehicle is not None:
        # The owner was told we were locking the trunk; now they learn it is locked.
        events.record(
            session=session,
            event=Event(
                kind="vehicle.relocked",
                at=now,
                subject=vehicle.id,
                delivery_id=attempt.delivery_id,
                facts={"vehicle_id": vehicle.id},
                parties=(vehicle.owner_id,),
            ),
        )
    if attempt.status == domain.AttemptStatus.deposited:
        transition(attempt, domain.AttemptStatus.succeeded)
        attempt.ended_at = now
        finish_delivered(
            session=session,
            settings=settings,
            attempt=attempt,
            outcome="delivered_trunk",
            now=now,
            stops_open=stops_open,
        )


def send_lock(
    *,
    session: Session,
    settings: Settings,
    vehicle: Vehicle,
    attempt: Attempt,
    now: datetime,
    under_way: bool | None = None,
) -> VehicleCommand | None:
    """Queue a lock for the car unless one is on its way already (`under_way`: already
    read by the caller in this transaction; None: looked up here)."""
    if under_way is None:
        under_way = (
            session.scalars(_OPEN_LOCK_COMMAND, {"vehicle_id": vehicle.id}).first() is not None
        )
    if under_way:
        return None
    command = vehicles.create_command(
        session=session,
        vehicle=vehicle,
        kind="lock",
        now=now,
        expires_at=now + timedelta(seconds=settings.command_expiry_s),
        attempt_id=attempt.id,
    )
    events.record(
        session=session,
        event=Event(
            kind="command.lock",
            at=now,
            subject=command.id,
            facts={"vehicle": vehicle.id, "attempt": attempt.id},
        ),
    )
    return command


def drop_pending_unlocks(
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
        events.record(
            session=session,
            event=Event(kind="command.dropped", at=now, subject=command.id, facts={"why": why}),
        )


def settle_attempt(
    *,
    session: Session,
    settings: Settings,
    operator: Party,
    attempt_id: str,
    delivered: bool,
    note: str,
    now: datetime,
) -> Attempt:
    """An operator decides what the car left undecided: an attempt whose parcel went into
    the trunk without the car ever confirming it locked. Delivered: the delivery is done.
    Not delivered (the parcel is not there): the attempt fails and the fallback policy
    decides. The attempt's open incidents are resolved with the note; audited."""
    attempt = session.get(Attempt, attempt_id, with_for_update=True)
    if attempt is None:
        raise NotFound(f"no attempt with id {attempt_id!r}", field="attempt_id")
    if attempt.status != domain.AttemptStatus.deposited:
        raise Conflict(
            f"only an attempt waiting for the car's lock can be settled; this one is "
            f"{attempt.status}",
            code="illegal_transition",
        )
    events.record(
        session=session,
        event=Event(
            kind="attempt.settled",
            at=now,
            subject=attempt.id,
            actor=operator.id,
            delivery_id=attempt.delivery_id,
            facts={"delivered": delivered, "note": note},
            text="an operator confirmed the delivery"
            if delivered
            else "an operator found the parcel was not delivered",
        ),
    )
    incidents.resolve_open(
        session=session,
        attempt_id=attempt.id,
        resolution=f"settled by an operator: {note}",
        now=now,
        operator=operator,
    )
    if delivered:
        transition(attempt, domain.AttemptStatus.succeeded)
        attempt.ended_at = now
        finish_delivered(
            session=session, settings=settings, attempt=attempt, outcome="delivered_trunk", now=now
        )
    else:
        fail_attempt(
            session=session,
            settings=settings,
            attempt=attempt,
            reason=domain.Reason.operator_override,
            detail=note,
            now=now,
        )
    return attempt
