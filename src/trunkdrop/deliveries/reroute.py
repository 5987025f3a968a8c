"""Skipping a place without a trip: before a driver sets off to a trunk stop, the car
already said it is not there (or the window is over)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, lookups, outcomes
from trunkdrop.deliveries.models import Delivery, DeliveryOption
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import RouteStop
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.geo import distance_m


def reroute_if_car_away(
    *, session: Session, settings: Settings, stop_id: str, now: datetime
) -> bool:
    """Before a driver sets off to a trunk stop: if its window is over (or the plan has the
    van there only after it closes), or the car already
    reported that it is offline or stands away from the booked place, skip the place without
    an attempt (no wasted trip) and let the fallback policy pick the next. True when skipped."""
    stop = dispatch.get_stop(session=session, stop_id=stop_id)
    if stop.status != "pending" or stop.mode != "trunk" or stop.option_seq is None:
        return False
    if dispatch.has_attempt(session=session, stop_id=stop.id):
        return False
    delivery = lookups.get_delivery(session=session, delivery_id=stop.delivery_id)
    vehicle = lookups.vehicle_for(session=session, delivery=delivery)
    booked = lookups.option(session=session, delivery_id=delivery.id, seq=stop.option_seq)
    reason = None
    # A van re-planned by insertion keeps a stop that fits nowhere at the end of its route,
    # planned after its window: no trip there either.
    if now >= booked.window_end or (stop.eta is not None and stop.eta > booked.window_end):
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
    skip_place(
        session=session,
        settings=settings,
        stop=stop,
        delivery=delivery,
        booked=booked,
        reason=reason,
        now=now,
    )
    return True


def skip_place(
    *,
    session: Session,
    settings: Settings,
    stop: RouteStop,
    delivery: Delivery,
    booked: DeliveryOption,
    reason: str,
    now: datetime,
) -> None:
    """Cancel a trunk stop that nobody set off to and let the fallback policy pick the next
    place (a new stop on the same route)."""
    dispatch.finish_stop(stop=stop, status="cancelled")
    events.record(
        session=session,
        event=Event(
            kind="stop.rerouted",
            at=now,
            subject=stop.id,
            delivery_id=delivery.id,
            facts={"reason": reason},
            text=f"the car reported it is not at {booked.label} ({reason.replace('_', ' ')}); skipping that place",
        ),
    )
    outcomes.fall_back(
        session=session,
        settings=settings,
        delivery=delivery,
        stop=stop,
        mode="trunk",
        option_seq=stop.option_seq,
        reason=reason,
        now=now,
    )
