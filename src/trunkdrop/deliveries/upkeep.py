"""Background upkeep: the relock watchdog, offline attempts, late vans, and the sweep of
expired grants, nonces and positions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Double, Numeric, Select, cast, func, or_, select
from sqlalchemy.orm import Session

from trunkdrop.access import service as access
from trunkdrop.access.models import Grant
from trunkdrop.checkout import service as checkout
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, outcomes, withdrawals
from trunkdrop.deliveries.models import Attempt, Delivery
from trunkdrop.devices import service as devices
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import Route
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.incidents import service as incidents
from trunkdrop.incidents.models import Incident
from trunkdrop.pickup_points import service as pickup_points
from trunkdrop.vehicles import consent as vehicle_consents
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle, VehicleCommand, VehicleEvent
from trunkdrop.web import signin


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
    consents_expired: int = 0

    def total(self) -> int:
        return (
            self.sent + self.expired + self.relocks + self.grants_expired + self.positions_forgotten
        )


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
    _lock_unconfirmed_unlocks(session=session, settings=settings, now=now, limit=limit, done=done)
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
            events.record(
                session=session,
                event=Event(
                    kind="vehicle.relock",
                    at=now,
                    subject=vehicle.id,
                    delivery_id=attempt.delivery_id,
                    facts={"vehicle_id": vehicle.id},
                    text="your trunk was not locked after the delivery; we are locking it",
                    parties=(vehicle.owner_id,),
                ),
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
            outcomes.send_lock(
                session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now
            )
            is not None
        ):
            attempt.relock_tries += 1
            attempt.last_relock_at = now
            done.relocks += 1
            events.record(
                session=session,
                event=Event(
                    kind="attempt.relock_sent",
                    at=now,
                    subject=attempt.delivery_id,
                    delivery_id=attempt.delivery_id,
                    text="trunk not locked in time; lock sent by trunkdrop",
                ),
            )
    session.flush()


def _lock_unconfirmed_unlocks(
    *, session: Session, settings: Settings, now: datetime, limit: datetime, done: WorkDone
) -> None:
    """The car ran the unlock but its "trunk opened" never came (lost with a broker restart
    or a car that crashed, or the driver never lifted the lid): the trunk may stand
    unlocked. The watchdog above keys on the opening, so it would never see this one: lock
    the car and tell the operator, once per attempt. A late opening report still settles
    the attempt as usual."""
    for attempt, vehicle in session.execute(
        select(Attempt, Vehicle)
        .join(VehicleCommand, VehicleCommand.id == Attempt.unlock_command_id)
        .join(Vehicle, Vehicle.id == Attempt.vehicle_id)
        .where(
            Attempt.status == domain.AttemptStatus.unlocking,
            Attempt.trunk_opened_at.is_(None),
            VehicleCommand.status == "executed",
            VehicleCommand.finished_at <= limit,
        )
    ).all():
        seen = session.scalars(
            select(Incident.id).where(
                Incident.attempt_id == attempt.id, Incident.kind == "unlock_unconfirmed"
            )
        ).first()
        if seen is not None:
            continue
        incidents.open_incident(
            session=session,
            kind="unlock_unconfirmed",
            severity="high",
            now=now,
            vehicle_id=vehicle.id,
            delivery_id=attempt.delivery_id,
            attempt_id=attempt.id,
            detail=f"{vehicle.plate} ran the unlock {settings.relock_after_s // 60} min ago and "
            "has not reported the trunk opening since; lock sent",
        )
        if (
            outcomes.send_lock(
                session=session, settings=settings, vehicle=vehicle, attempt=attempt, now=now
            )
            is not None
        ):
            done.relocks += 1
            events.record(
                session=session,
                event=Event(
                    kind="attempt.relock_sent",
                    at=now,
                    subject=attempt.delivery_id,
                    delivery_id=attempt.delivery_id,
                    text="the car unlocked but never reported its trunk opening; lock sent by "
                    "trunkdrop",
                ),
            )


def sweep(*, session: Session, settings: Settings, now: datetime, done: WorkDone) -> None:
    """End access to cars whose maker's consent ran out (and warn those soon to); expire
    grants that ran out; forget car positions no delivery needs any more; send parcels
    not collected from pickup points in time back to the sender; delete spent checkout
    sessions and sign-in links."""
    done.consents_expired += withdrawals.end_expired_consents(
        session=session, settings=settings, now=now
    )
    withdrawals.warn_expiring_consents(session=session, settings=settings, now=now)
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
    done.positions_forgotten += forget_tracks(session=session, cutoff=cutoff, busy=busy)
    forget_unlinked_maker_ids(session=session, now=now)
    vehicle_consents.forget_requests(session=session, now=now)
    pickup_points.return_uncollected(session=session, settings=settings, now=now)
    checkout.forget_expired(session=session, now=now)
    signin.forget_spent_links(session=session, now=now)
    session.flush()


def forget_unlinked_maker_ids(*, session: Session, now: datetime) -> int:
    """Unlinked cars lose their maker's id once none of their revoked grants is still
    running: until then the car must still be told of the revocation under that id."""
    told = select(Grant.vehicle_id).where(Grant.status == "revoked", Grant.expires_at > now)
    unlinked = list(
        session.scalars(
            select(Vehicle).where(
                Vehicle.unlinked_at.is_not(None),
                Vehicle.external_id.not_like(f"{vehicles.ERASED_MAKER_ID}%"),
                Vehicle.id.not_in(told),
            )
        )
    )
    for vehicle in unlinked:
        vehicles.forget_maker_id(vehicle=vehicle)
    return len(unlinked)


def forget_tracks(*, session: Session, cutoff: datetime, busy: Select[Any]) -> int:
    """Coordinates kept past their use: a car's reported positions in its event log, the
    driver's positions at attempts of deliveries that ended before `cutoff` (coarsened to
    about a kilometre: where a delivery was tried stays countable), the driver's last fix.

    Only rows that still hold coordinates are read: every worker pass sweeps, and the rows
    forgotten before stay in the log for good (reading them all again each time grew with
    every day the platform had run)."""
    forgotten = 0
    for event in session.scalars(
        select(VehicleEvent).where(
            VehicleEvent.type == "position",
            VehicleEvent.occurred_at < cutoff,
            VehicleEvent.vehicle_id.not_in(busy.where(Delivery.vehicle_id.is_not(None))),
            or_(
                VehicleEvent.data["latitude"].as_string().is_not(None),
                VehicleEvent.data["longitude"].as_string().is_not(None),
            ),
        )
    ):
        if "latitude" in event.data or "longitude" in event.data:
            event.data = {k: v for k, v in event.data.items() if k not in ("latitude", "longitude")}
            forgotten += 1
    ended = select(Delivery.id).where(Delivery.ended_at.is_not(None), Delivery.ended_at < cutoff)
    for attempt in session.scalars(
        select(Attempt).where(
            Attempt.delivery_id.in_(ended),
            or_(
                _finer_than_coarse(Attempt.driver_latitude),
                _finer_than_coarse(Attempt.driver_longitude),
            ),
        )
    ):
        coarse = (round(attempt.driver_latitude, 2), round(attempt.driver_longitude, 2))
        if coarse != (attempt.driver_latitude, attempt.driver_longitude):
            attempt.driver_latitude, attempt.driver_longitude = coarse
            forgotten += 1
    forgotten += devices.forget_fixes(session=session, before=cutoff)
    return forgotten


def _finer_than_coarse(degrees: Any) -> Any:
    """SQL: a coordinate not yet rounded to two decimals (about a kilometre), as the sweep
    rounds it (`round(x, 2)` of the float). Rounded as a decimal (PostgreSQL rounds only
    those to a number of places) and compared back as a float: PostgreSQL turns a float into
    a decimal of 15 digits, so 48.14000000000001 would pass for 48.14 as a decimal. A value
    equal to its rounding is one this sweep rounded before; rounding it again changes nothing."""
    return cast(func.round(cast(degrees, Numeric), 2), Double) != degrees
