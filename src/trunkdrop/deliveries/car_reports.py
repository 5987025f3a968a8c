"""A car's report folded into the platform: its attempts, grants, commands and incidents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from trunkdrop.access import service as access
from trunkdrop.access.models import Grant
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, lookups, outcomes
from trunkdrop.deliveries.models import Attempt, Delivery, DeliveryOption
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.errors import NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.geo import distance_m
from trunkdrop.incidents import service as incidents
from trunkdrop.incidents.models import Incident
from trunkdrop.store.base import insert_if_absent
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle, VehicleCommand, VehicleEvent
from trunkdrop.vehicles.ports import (
    HANDSET_NOT_NEAR,
)
from trunkdrop.vehicles.schemas import VehicleEventIn

# The attempts a report about the car may move, as conditions on the car's row.
_UNLOCKING_AT_CAR = and_(
    Attempt.vehicle_id == Vehicle.id, Attempt.status == domain.AttemptStatus.unlocking
)
# The attempts that opened the car's trunk and have not seen it locked since.
_UNSECURED_AT_CAR = and_(
    Attempt.vehicle_id == Vehicle.id,
    Attempt.trunk_opened_at.is_not(None),
    Attempt.secured_at.is_(None),
)
_LOCK_UNDER_WAY = (
    exists()
    .where(
        VehicleCommand.vehicle_id == Vehicle.id,
        VehicleCommand.kind == "lock",
        VehicleCommand.status.in_(("pending", "sending", "sent")),
    )
    .label("lock_under_way")
)

_NOT_LOCKED_OPEN = (
    exists()
    .where(
        Incident.attempt_id == Attempt.id,
        Incident.kind == "trunk_not_locked",
        Incident.status == "open",
    )
    .label("not_locked_open")
)
_OTHER_STOP = aliased(RouteStop)
_STOPS_OPEN = (
    exists()
    .where(
        _OTHER_STOP.route_id == RouteStop.route_id,
        _OTHER_STOP.status == "pending",
        _OTHER_STOP.id != RouteStop.id,
    )
    .label("stops_open")
)

# A read of any number of columns (each kind reads its own).
_AnyRead = Select[*tuple[Any, ...]]


def _report_read(kind: str, logs: bool, rows: bool = True) -> _AnyRead:
    """The one statement that reads, with the linked car a report names, what reacting to
    a report of `kind` needs (each row: the car, then the kind's rows; only the car when
    not `rows`). With `logs` (PostgreSQL, a report without coordinates) it also writes the
    report to the car's log unless seen before, and its last column tells whether it did.
    Built once per kind: building one costs more than running it."""
    statement = _READS.get((kind, logs, rows))
    if statement is not None:
        return statement
    query: _AnyRead
    if not rows:
        query = select(Vehicle)
    elif kind in ("command_executed", "command_rejected"):
        query = select(Vehicle, VehicleCommand).outerjoin(
            VehicleCommand,
            and_(
                VehicleCommand.id == bindparam("command_id"),
                VehicleCommand.vehicle_id == Vehicle.id,
            ),
        )
    elif kind == "grant_used":
        query = select(Vehicle, Grant).outerjoin(Grant, Grant.id == bindparam("grant_id"))
    elif kind == "trunk_opened":
        query = select(Vehicle, Attempt).outerjoin(Attempt, _UNLOCKING_AT_CAR)
    elif kind == "trunk_closed":
        query = (
            select(Vehicle, Attempt, _LOCK_UNDER_WAY)
            .outerjoin(Attempt, _UNSECURED_AT_CAR)
            .order_by(Attempt.trunk_opened_at.desc())
        )
    elif kind == "locked":
        # What securing a deposited parcel finishes comes along: its delivery, stop, route,
        # whether an incident waits for the lock and whether the route has other stops open.
        query = (
            select(Vehicle, Attempt, Delivery, RouteStop, Route, _NOT_LOCKED_OPEN, _STOPS_OPEN)
            .outerjoin(Attempt, _UNSECURED_AT_CAR)
            .outerjoin(Delivery, Delivery.id == Attempt.delivery_id)
            .outerjoin(RouteStop, RouteStop.id == Attempt.stop_id)
            .outerjoin(Route, Route.id == RouteStop.route_id)
        )
    else:
        query = select(Vehicle)
    query = query.where(vehicles.linked_car(bindparam("maker"), bindparam("maker_car")))
    # The rows as the database holds them, also for objects the session holds already:
    # state a statement wrote itself reaches them by `set_committed_value`, which a
    # savepoint rolled back (a refused report of the batch) would not undo.
    query = query.execution_options(populate_existing=True)
    if logs:
        logged = vehicles.logged_if_new()
        query = query.add_columns(
            select(func.count()).select_from(logged).scalar_subquery().label("logged")
        )
        if kind in _ANSWERS:
            # The command's answer is written in the same statement too.
            finished = vehicles.finished_if_logged(logged, _ANSWERS[kind])
            query = query.add_columns(
                select(func.count()).select_from(finished).scalar_subquery().label("finished")
            )
        elif kind in vehicles.WRITES_STATE:
            # And so is the car's new lock or trunk state.
            folded = vehicles.folded_if_logged(logged, kind)
            query = query.add_columns(
                select(func.count()).select_from(folded).scalar_subquery().label("folded")
            )
    _READS[(kind, logs, rows)] = query
    return query


_READS: dict[tuple[str, bool, bool], _AnyRead] = {}
# Reports whose reaction reads the car's attempts. On PostgreSQL their log-and-fold
# statement waits for the car's row while another worker folds a report of the same car,
# but a statement's rows are those of its snapshot, taken before that wait: the attempts it
# returned would be the ones before the other report secured or opened them (two "locked"
# reports at once would secure a parcel twice). So the attempts are read by a second
# statement, after the fold holds the car's row and the other report has committed.
_READS_AFTER_FOLD = ("trunk_opened", "trunk_closed", "locked")
# A car's answer to a command, and the state it leaves the command in.
_ANSWERS = {"command_executed": "executed", "command_rejected": "rejected"}


def _position_needed(
    *, session: Session, settings: Settings, vehicle_id: str, at: datetime
) -> tuple[bool, bool]:
    """Whether a delivery needs the car's position reported at `at`: (any pending delivery
    of the car, one whose window, widened by the margin, holds `at`). Positions are personal
    data: a car nobody delivers to has none stored, and the event log keeps coordinates
    only around a booked window."""
    margin = timedelta(seconds=settings.position_window_margin_s)
    windows = session.execute(_PENDING_WINDOWS, {"vehicle_id": vehicle_id}).all()
    in_window = any(start - margin <= at <= end + margin for start, end in windows)
    return bool(windows), in_window


# Asked at every position a car reports: built once (building it cost more than running it).
_PENDING_WINDOWS = (
    select(DeliveryOption.window_start, DeliveryOption.window_end)
    .join(Delivery, Delivery.id == DeliveryOption.delivery_id)
    .where(
        Delivery.vehicle_id == bindparam("vehicle_id"),
        Delivery.status.in_((domain.DeliveryStatus.booked, domain.DeliveryStatus.out_for_delivery)),
    )
)
# A car's attempts that a move away from the booked place can still end.
_NOT_OPEN_AT_CAR = select(Attempt).where(
    Attempt.vehicle_id == bindparam("vehicle_id"), Attempt.status.in_(outcomes.NOT_OPEN)
)


def _answers_access(attempt: Attempt, opened_at: datetime) -> bool:
    """An opening the car made after the driver was granted access can answer it; one made
    before (the owner's own, reported late) cannot, and so cannot start the clock that a
    later "closed and locked" is measured against."""
    granted = attempt.access_requested_at
    return granted is not None and opened_at >= granted


def ingest_vehicle_event(
    *, session: Session, settings: Settings, brand: str, event_in: VehicleEventIn, now: datetime
) -> bool:
    """Fold a car maker's event into the platform and react to it. False when a duplicate.

    A report costs one statement to read what it needs (and, on PostgreSQL, to log it
    unless seen before), and one flush for what it changed: a delivery's car sends a
    handful, and each used to read its car, its command or attempt and log itself apart."""
    event_in = vehicles.bounded_report(
        event_in, received_at=now, max_ahead_s=settings.report_max_ahead_s
    )
    kind = event_in.type
    data = None if kind == "position" else vehicles.plain_event_data(event_in)
    logs = data is not None and session.get_bind().dialect.name == "postgresql"
    # Only what the statement binds: a key named like a column of a table the statement
    # writes would be written to that column too.
    params: dict[str, Any] = {"maker": brand, "maker_car": event_in.vehicle_id}
    if kind in _ANSWERS:
        params["command_id"] = event_in.command_id
    elif kind == "grant_used":
        params["grant_id"] = event_in.grant_id
    if logs:
        params |= {
            "event_id": event_in.event_id,
            "type": kind,
            "occurred_at": event_in.occurred_at,
            "received_at": now,
            "data": data,
            "detail": event_in.detail[:200] if event_in.detail else None,
        }
    after_fold = logs and kind in _READS_AFTER_FOLD
    rows = session.execute(_report_read(kind, logs, rows=not after_fold), params).all()
    if not rows:
        raise NotFound(
            f"no linked vehicle {event_in.vehicle_id!r} for brand {brand!r}", field="vehicle_id"
        )
    vehicle: Vehicle = rows[0][0]
    finished: bool | None = None  # None: the command's answer is not written yet
    folded: bool | None = None  # None: the car's state is not written yet
    if logs:
        new = bool(rows[0]._mapping["logged"])
        keep_position = True
        if kind in _ANSWERS:
            finished = bool(rows[0]._mapping["finished"])
        elif kind in vehicles.WRITES_STATE:
            folded = bool(rows[0]._mapping["folded"])
    else:
        log_position = keep_position = True
        if kind == "position":
            keep_position, log_position = _position_needed(
                session=session, settings=settings, vehicle_id=vehicle.id, at=event_in.occurred_at
            )
        row = vehicles.event_row(
            brand=brand, event_in=event_in, vehicle=vehicle, now=now, log_position=log_position
        )
        # One statement decides "new or seen before", also when two deliveries of the same
        # event race: the unique (brand, event_id) keeps one, the other inserts nothing.
        new = insert_if_absent(session, VehicleEvent, row)
    if not new:
        return False
    if after_fold:
        rows = session.execute(
            _report_read(kind, False), {"maker": brand, "maker_car": event_in.vehicle_id}
        ).all()
        vehicle = rows[0][0]
    if folded is None:
        vehicles.fold_new(vehicle, event_in, now=now, keep_position=keep_position)
    elif folded:
        # Written already: the session's copy learns it, with nothing left to write.
        for name, value in vehicles.folded_state(kind, event_in.occurred_at).items():
            set_committed_value(vehicle, name, value)
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
            session=session,
            settings=settings,
            vehicle=vehicle,
            command=rows[0][1],
            finished=finished,
            event_in=event_in,
            now=now,
        )
    elif kind == "grant_used":
        _on_grant_used(
            session=session, vehicle=vehicle, grant=rows[0][1], event_in=event_in, now=now
        )
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
        attempt: Attempt | None = rows[0][1]
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
        attempt, lock_under_way = rows[0][1], rows[0][2]
        if attempt is not None and vehicle.lock_state != "locked":
            outcomes.send_lock(
                session=session,
                settings=settings,
                vehicle=vehicle,
                attempt=attempt,
                now=now,
                under_way=bool(lock_under_way),
            )
    elif kind == "locked":
        # Every attempt the lock secures (two parcels may have gone into one trunk).
        secures = [r for r in rows if r[1] is not None]
        for r in secures:
            if outcomes.secured_since(vehicle, r[1]):
                outcomes.mark_secured(
                    session=session,
                    settings=settings,
                    attempt=r[1],
                    now=now,
                    not_locked_open=r[5],
                    # Read before any of them finished its stop: true of one attempt only.
                    stops_open=r[6] if len(secures) == 1 else None,
                )
    elif kind == "position":
        _on_position(session=session, settings=settings, vehicle=vehicle, now=now)
    session.flush()
    return True


def _on_grant_used(
    *,
    session: Session,
    vehicle: Vehicle,
    grant: Grant | None,
    event_in: VehicleEventIn,
    now: datetime,
) -> None:
    """Reconcile a car's own report that it accepted a grant (`grant`: the one it names, if
    any): the ledger records the use; a use of an unknown, revoked or already used grant is
    an incident."""
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
    command: VehicleCommand | None,
    finished: bool | None,
    event_in: VehicleEventIn,
    now: datetime,
) -> None:
    """The car answered a command (`command`: the one it names, if it is this car's;
    `finished`: whether the statement that read it also wrote the answer, None: not
    written yet)."""
    if command is None:
        return
    executed = event_in.type == "command_executed"
    status = "executed" if executed else "rejected"
    if finished is None:
        if command.status not in vehicles.ANSWERABLE:
            return
        vehicles.finish_command(command=command, status=status, now=now, detail=event_in.detail)
    elif not finished:
        return  # it had its answer, or ran out, already
    else:
        # Written already: the session's copy learns it, with nothing left to write.
        set_committed_value(command, "status", status)
        set_committed_value(command, "finished_at", now)
        if event_in.detail:
            set_committed_value(command, "detail", event_in.detail[:200])
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
    for attempt in session.scalars(_NOT_OPEN_AT_CAR, {"vehicle_id": vehicle.id}).all():
        if attempt.option_seq is None or attempt.deposited_at is not None:
            continue  # the parcel is in (an offline car): the car's own reports settle it
        booked = lookups.option(
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
