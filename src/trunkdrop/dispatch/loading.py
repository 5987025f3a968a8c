"""A van sets off: the load is checked against what the cars reported since the plan.

A car that reported itself offline (an underground garage, a flat battery) will not open for
the driver, and the day's plan was made before anyone knew. While the van is still at the
depot its parcels can go on any van of the carrier that has not left yet; once it is out,
its parcels stay in it. So the check runs when the van leaves: each trunk stop whose car
went offline at the booked place is skipped (the fallback policy picks the car's next place
or the door) and the new stop goes on whichever van still at the depot, this one included,
serves it at least extra cost with every window, shift and load on that van kept. A parcel
no van can take in time stays on this van, where the planner's re-plan places it as before;
so does one whose check fails (a routing server down): the van leaves regardless.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, reroute
from trunkdrop.deliveries.models import Attempt, Delivery, DeliveryOption
from trunkdrop.dispatch import replans, routes
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.flows import DaySolution
from trunkdrop.dispatch.insertion import cheapest_van
from trunkdrop.dispatch.matrix import MatrixProvider, Point
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.errors import DomainError
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.geo import distance_m
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party
from trunkdrop.vehicles.models import Vehicle

log = logging.getLogger(__name__)


def set_off(
    *,
    session: Session,
    settings: Settings,
    party: Party,
    route: Route,
    matrix: MatrixProvider,
    now: datetime,
) -> Route:
    """The driver leaves the depot: check the load (`check_load`), then start the route.

    Only a van with a car to weigh holds the carrier's vans at the depot (in id order,
    before its status is read: a loading check of another van that weighs this one finishes
    first, and this van then leaves with what it moved here). Looked for before any lock, so
    that the morning's set-offs do not queue behind one another for nothing; a van without
    one holds only its own row (`routes.start_route`), which every check moving a parcel
    onto it holds too. A car that goes offline between that look and the start is met
    on the road, as one that goes offline a minute after the van left."""
    dispatch.check_route_access(party, route)
    if route.status == "planned" and _offline_at_booked_place(
        session=session, settings=settings, route=route, now=now
    ):
        dispatch.hold_vans_at_depot(session=session, route=route)
        if route.status == "planned":
            check_load(session=session, settings=settings, route=route, matrix=matrix, now=now)
    return routes.start_route(session=session, settings=settings, party=party, route=route, now=now)


def _offline_at_booked_place(
    *, session: Session, settings: Settings, route: Route, now: datetime
) -> list[tuple[RouteStop, Delivery, DeliveryOption]]:
    """The van's untouched trunk stops whose car reported itself offline at the booked
    place, with the parcel and the place, in the van's order. One statement for the whole
    load (a van carries 40-odd parcels; four lookups per stop were most of a set-off's cost)."""
    candidates = session.execute(
        select(RouteStop, Delivery, DeliveryOption, Vehicle)
        .join(Delivery, Delivery.id == RouteStop.delivery_id)
        .join(
            DeliveryOption,
            (DeliveryOption.delivery_id == RouteStop.delivery_id)
            & (DeliveryOption.seq == RouteStop.option_seq),
        )
        .join(Vehicle, Vehicle.id == Delivery.vehicle_id)
        .where(
            RouteStop.route_id == route.id,
            RouteStop.status == "pending",
            RouteStop.mode == "trunk",
            Vehicle.online.is_(False),
            ~exists().where(Attempt.stop_id == RouteStop.id),
        )
        .order_by(RouteStop.seq)
    )
    return [
        (stop, delivery, booked)
        for stop, delivery, booked, vehicle in candidates
        if now < booked.window_end and _last_seen_at(vehicle, booked, settings)
    ]


def check_load(
    *, session: Session, settings: Settings, route: Route, matrix: MatrixProvider, now: datetime
) -> list[str]:
    """Skip the trunk stops of a van about to leave whose car is offline now, and put each
    parcel's next stop on the van at the depot that serves it at least extra cost. Returns
    the ids of the deliveries that changed van."""
    offline = _offline_at_booked_place(session=session, settings=settings, route=route, now=now)
    if not offline:
        return []
    # Before anything is written: two vans setting off at once may each weigh the other, so
    # the carrier's vans at the depot that day are locked first, in one order (`set_off`
    # holds them already; a caller of this alone may not). What follows reads them after
    # it. A caller must not hold a van's row before this (out of order).
    dispatch.hold_vans_at_depot(session=session, route=route)
    moved: list[str] = []
    for stop, delivery, booked in offline:
        session.refresh(stop)
        if stop.status != "pending":
            continue  # another set-off of this van got there first
        reroute.skip_place(
            session=session,
            settings=settings,
            stop=stop,
            delivery=delivery,
            booked=booked,
            reason=domain.Reason.vehicle_offline,
            now=now,
        )
        session.flush()
        following = dispatch.pending_stop_for(session=session, delivery_id=delivery.id)
        if following is None:
            continue
        try:
            with session.begin_nested():
                changed = _to_cheapest_van(
                    session=session,
                    settings=settings,
                    route=route,
                    stop=following,
                    matrix=matrix,
                    now=now,
                )
        except DomainError as e:
            # Weighing the other vans is a help, not a condition of leaving: the parcel stays
            # on this van, where its re-plan places it.
            log.warning("loading check left %s on its van: %s", delivery.id, e.code)
            changed = False
        if changed:
            moved.append(delivery.id)
    return moved


def _last_seen_at(vehicle: Vehicle, booked: DeliveryOption, settings: Settings) -> bool:
    """Whether the car went offline at the booked place: it stands there and will not open.
    A car that went offline elsewhere may well be back online when it gets there."""
    if vehicle.latitude is None or vehicle.longitude is None:
        return False
    return (
        distance_m(vehicle.latitude, vehicle.longitude, booked.latitude, booked.longitude)
        <= settings.vehicle_radius_m
    )


# The vans at the depot weighed for a parcel: those passing nearest its next place. Bounds
# the check's cost on a big day (each weighed van is a routing problem of its own stops).
VANS_WEIGHED = 4


def _nearest_waiting_vans(*, session: Session, route: Route, point: Point) -> list[str]:
    """The carrier's other routes of the day still at the depot, nearest first by how close
    their nearest stop comes to `point`; at most `VANS_WEIGHED`."""
    waiting = select(Route.id).where(
        Route.carrier_id == route.carrier_id,
        Route.service_date == route.service_date,
        Route.status == "planned",
        Route.id != route.id,
    )
    pending = (RouteStop.route_id.in_(waiting), RouteStop.status == "pending")
    at_cars = session.execute(
        select(RouteStop.route_id, DeliveryOption.latitude, DeliveryOption.longitude)
        .join(
            DeliveryOption,
            (DeliveryOption.delivery_id == RouteStop.delivery_id)
            & (DeliveryOption.seq == RouteStop.option_seq),
        )
        .where(*pending, RouteStop.mode == "trunk")
    )
    at_doors = session.execute(
        select(RouteStop.route_id, Delivery.fallback_latitude, Delivery.fallback_longitude)
        .join(Delivery, Delivery.id == RouteStop.delivery_id)
        .where(*pending, RouteStop.mode == "home")
    )
    nearest: dict[str, float] = {}
    for route_id, lat, lon in [*at_cars, *at_doors]:
        if lat is not None and lon is not None:
            metres = distance_m(point[0], point[1], lat, lon)
            nearest[route_id] = min(metres, nearest.get(route_id, metres))
    return sorted(nearest, key=lambda r: (nearest[r], r))[:VANS_WEIGHED]


def _to_cheapest_van(
    *,
    session: Session,
    settings: Settings,
    route: Route,
    stop: RouteStop,
    matrix: MatrixProvider,
    now: datetime,
) -> bool:
    """Move `stop` (the last on `route`, still at the depot) to the van at the depot that
    takes it at least extra cost, at its place in that van's order. True when it moved to
    another van; False leaves it where the fallback put it."""
    here = replans.stop_point(session, stop)
    if here is None:
        return False
    waiting = _nearest_waiting_vans(session=session, route=route, point=here)
    draft = replans.prepare_replan(
        session=session,
        settings=settings,
        carrier=parties.get_party(session=session, party_id=route.carrier_id),
        service_date=route.service_date,
        matrix=matrix,
        now=now,
        route_ids=[route.id, *waiting],
    )
    if draft.day is None or stop.id not in draft.movable:
        return False
    problem, vans = draft.day.problem, draft.day.vans
    k = draft.movable.index(stop.id)
    orders: dict[int, list[int]] = {}
    loads: dict[int, int] = {}
    for vehicle_type, van in enumerate(vans):
        mine = [j for j, r in enumerate(draft.route_of) if r == van.route_id and j != k]
        if any(draft.current[j] is None for j in mine):
            continue  # a stop with no place on this van yet: its own re-plan comes first
        orders[vehicle_type] = [loc for j in mine if (loc := draft.current[j]) is not None]
        loads[vehicle_type] = sum(problem.stops[j].demand + problem.stops[j].pickup for j in mine)
    choice = cheapest_van(problem, orders, k, loads)
    if choice is None or vans[choice[0]].route_id == route.id:
        return False
    target, position, location = choice
    # Only the stop and the van it joins change: every other stop keeps its van and time.
    to_route = vans[target].route_id or ""
    keep = [j for j, r in enumerate(draft.route_of) if r == to_route or j == k]
    order = orders[target]
    solved = DaySolution(routes=[(target, (*order[:position], location, *order[position:]))])
    replans.store_replan(
        session=session,
        settings=settings,
        draft=replace(draft, movable=tuple(draft.movable[j] for j in keep), route_ids=(to_route,)),
        solved=solved,
        now=now,
    )
    events.record(
        session=session,
        event=Event(
            kind="stop.moved_van",
            at=now,
            subject=stop.id,
            delivery_id=stop.delivery_id,
            facts={"from_route": route.id, "to_route": to_route},
            text="the parcel goes on another van, one that can reach the next place in time",
        ),
    )
    return True
