"""Re-planning the rest of a day when things change: finished stops and attempts under
way stay, vans go on from where they are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import lookups
from trunkdrop.deliveries.domain import is_pickup
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.costs import CostModel
from trunkdrop.dispatch.flows import (
    Candidate,
    DayProblem,
    DaySolution,
    Van,
    build_problem,
    candidates_for,
    parcel_litres,
    seconds_of_day,
    served,
    solve_and_check,
)
from trunkdrop.dispatch.insertion import repair_route
from trunkdrop.dispatch.matrix import MatrixProvider, Point
from trunkdrop.dispatch.models import Route, RouteStop
from trunkdrop.dispatch.problem import (
    ProblemError,
)
from trunkdrop.errors import Conflict, InvalidInput
from trunkdrop.parties.models import Party


@dataclass(frozen=True)
class ReplanDraft:
    """The rest of a day as a routing problem: which stops move, and onto which vans."""

    day: DayProblem | None  # None: nothing to move
    route_ids: tuple[str, ...]
    movable: tuple[str, ...]  # ids of the pending stops that are re-planned
    service_date: date
    # Per movable stop (the problem's stop of the same number): its route, and the location
    # of the place it is planned at now (None when that place is no option any more).
    route_of: tuple[str, ...] = ()
    current: tuple[int | None, ...] = ()
    # Each route read and its status then: (route id, status).
    status_read: tuple[tuple[str, str], ...] = ()


def replan(
    *,
    session: Session,
    settings: Settings,
    carrier: Party,
    service_date: date,
    seconds: float,
    matrix: MatrixProvider,
    now: datetime,
    capacity_l: int | None = None,
    shift_end_hour: int | None = None,
    seed: int = 0,
) -> list[Route]:
    """Re-solve what is left of the day: finished stops and attempts under way stay; each van
    starts where it last stopped, now; the pending stops are re-ordered.
    `capacity_l` and `shift_end_hour`, when given, stand for every van's own (`prepare_replan`).

    A van on the road carries its parcels: its stops are re-ordered on it alone. Only the
    vans still at the depot share theirs, since those parcels can still be loaded onto
    another van there. `seconds` of search is shared among these problems by their stops."""
    open_routes = [
        r
        for r in dispatch.list_routes(session=session, party=carrier, service_date=service_date)
        if r.status in ("planned", "started")
    ]
    if not open_routes:
        raise Conflict(f"no open route on {service_date}", code="nothing_to_plan")
    groups = [[r.id] for r in open_routes if r.status == "started"]
    at_depot = [r.id for r in open_routes if r.status == "planned"]
    if at_depot:
        groups.append(at_depot)
    drafts = [
        prepare_replan(
            session=session,
            settings=settings,
            carrier=carrier,
            service_date=service_date,
            capacity_l=capacity_l,
            shift_end_hour=shift_end_hour,
            matrix=matrix,
            now=now,
            route_ids=group,
        )
        for group in groups
    ]
    stops = sum(len(d.movable) for d in drafts)
    solved: list[tuple[ReplanDraft, DaySolution]] = []
    for draft in drafts:
        if draft.movable:
            # A van's handful of stops needs little search; a floor keeps it from none.
            share = max(seconds * len(draft.movable) / stops, min(seconds, 0.1))
            solved.append((draft, solve_replan(draft, seconds=share, seed=seed)))
    # Every search first, then every store, the vans held once in id order: a van's row and
    # stops are locked only for the moment of the store, not while other vans are searched
    # (a driver starting a stop would wait for them).
    _hold_routes(session=session, drafts=[draft for draft, _ in solved])
    for draft, answer in solved:
        store_replan(session=session, settings=settings, draft=draft, solved=answer, now=now)
    return [dispatch.get_route(session=session, route_id=r.id) for r in open_routes]


def prepare_replan(
    *,
    session: Session,
    settings: Settings,
    carrier: Party,
    service_date: date,
    matrix: MatrixProvider,
    now: datetime,
    capacity_l: int | None = None,
    shift_end_hour: int | None = None,
    route_ids: Sequence[str] | None = None,
) -> ReplanDraft:
    """Read the rest of the day (of `route_ids` only, when given). Only reads: the solving can
    happen outside any transaction, and `store_replan` checks that nothing moved meanwhile.

    Each van keeps the capacity and shift its route was planned with (the settings' for a
    route planned before they were kept); a van already out may run past its shift up to
    the settings' end. `capacity_l` and `shift_end_hour`, when given, stand for those of
    every van in this re-plan (a carrier's re-plan that says what its vans are now)."""
    areas = dispatch.list_service_areas(session=session, carrier_id=carrier.id)
    if not areas:
        raise Conflict("the carrier has no service area (and so no depot)", code="no_service_area")
    depot = (areas[0].depot_latitude, areas[0].depot_longitude)
    routes = [
        r
        for r in dispatch.list_routes(session=session, party=carrier, service_date=service_date)
        if r.status in ("planned", "started") and (route_ids is None or r.id in route_ids)
    ]
    if not routes:
        raise Conflict(f"no open route on {service_date}", code="nothing_to_plan")
    now_s = max(0, seconds_of_day(now, service_date, settings.timezone))
    vans: list[Van] = []
    movable: list[str] = []
    collected: set[str] = set()
    stops_in: list[tuple[list[Candidate], int]] = []
    route_of: list[str] = []
    chosen: list[int | None] = []  # index of the movable stop's current place in its options
    for route in routes:
        stops = dispatch.stops_of(session=session, route_id=route.id)
        # Finished stops and stops under way (an attempt exists) stay where they are; the
        # van goes on from the last of them, or from the depot.
        under_way = dispatch.stops_with_attempts(
            session=session, stop_ids=[s.id for s in stops if s.status == "pending"]
        )
        anchored = [s for s in stops if s.status != "pending" or s.id in under_way]
        # A cancelled stop was never driven to (skipped, or its parcel withdrawn): the van is
        # where it last delivered, tried or is trying.
        visited = [s for s in anchored if s.status != "cancelled"]
        start = (stop_point(session, visited[-1]) or depot) if visited else depot
        shift_start_s = route.shift_start_s
        if shift_start_s is None:
            shift_start_s = settings.service_day_start_hour * 3600
        van_start = max(now_s, shift_start_s if not visited else now_s)
        if shift_end_hour is not None:
            end_s = shift_end_hour * 3600
        elif route.status == "planned":
            end_s = route.shift_end_s or settings.shift_end_hour * 3600
        else:
            # A van out on the road finishes its parcels past its planned shift, up to the
            # service day's end, as re-plans always let it: nothing else can deliver them.
            end_s = max(route.shift_end_s or 0, settings.shift_end_hour * 3600)
        capacity = capacity_l if capacity_l is not None else route.capacity_l
        capacity = capacity or settings.van_capacity_l
        vans.append(Van(route.driver_id, capacity, start, van_start, end_s, route.id))
        if van_start >= end_s:
            continue  # the shift is over: nothing on this van moves
        for stop in stops:
            if stop in anchored:
                continue
            delivery = lookups.get_delivery(session=session, delivery_id=stop.delivery_id)
            options = candidates_for(
                session=session,
                delivery=delivery,
                day=service_date,
                settings=settings,
                home_as_option=True,
                after_s=now_s,
            )
            # A stop with no window left today stays where it is: the driver's app and the
            # end of the day deal with it; re-planning must never drop a parcel.
            if options:
                movable.append(stop.id)
                stops_in.append((options, parcel_litres(delivery)))
                route_of.append(route.id)
                chosen.append(
                    next(
                        (
                            n
                            for n, c in enumerate(options)
                            if (c.mode, c.option_seq) == (stop.mode, stop.option_seq)
                        ),
                        None,
                    )
                )
                if is_pickup(delivery.purpose):
                    collected.add(delivery.id)
    day = None
    if movable:
        try:
            day = build_problem(
                name=f"{carrier.id}-{service_date}-replan",
                depot=depot,
                vans=[v for v in vans if v.start_s < v.end_s],
                stops=stops_in,
                matrix=matrix,
                costs=CostModel.from_settings(settings),
                pickups=frozenset(collected),
            )
        except ProblemError as e:
            raise InvalidInput(str(e), code="plan_input_invalid") from e
    current = tuple(
        None if day is None or n is None else day.problem.stops[k].places[n].location
        for k, n in enumerate(chosen)
    )
    return ReplanDraft(
        day=day,
        route_ids=tuple(r.id for r in routes),
        movable=tuple(movable),
        service_date=service_date,
        route_of=tuple(route_of),
        current=current,
        status_read=tuple((r.id, r.status) for r in routes),
    )


def store_replan(
    *,
    session: Session,
    settings: Settings,
    draft: ReplanDraft,
    solved: DaySolution,
    now: datetime,
) -> None:
    """Move the re-planned stops to their new van, place and time, in place (their ids stay:
    a driver's app may hold one). Refused (replan_stale) when one of them was started or
    finished meanwhile: the caller plans again from the new state."""
    if draft.day is None:
        return
    _hold_routes(session=session, drafts=[draft])
    by_delivery: dict[str, RouteStop] = {}
    for stop_id in draft.movable:
        stop = session.get(RouteStop, stop_id, with_for_update=True)
        if stop is None or stop.status != "pending":
            raise Conflict(
                "the day changed while it was re-planned; plan again", code="replan_stale"
            )
        by_delivery[stop.delivery_id] = stop
    # Read after every stop is locked: an attempt starts only on a locked stop.
    if dispatch.stops_with_attempts(session=session, stop_ids=draft.movable):
        raise Conflict("the day changed while it was re-planned; plan again", code="replan_stale")
    # Out of the way of (route, seq) first: stops may swap places and vans.
    for n, stop in enumerate(by_delivery.values(), start=1):
        stop.seq = -n
    session.flush()
    for vehicle_type, locations in solved.routes:
        route_id = draft.day.vans[vehicle_type].route_id or ""
        last = session.scalar(select(func.max(RouteStop.seq)).where(RouteStop.route_id == route_id))
        seq = max(0, last or 0)
        for candidate, delivery, eta in served(
            session=session,
            day=draft.day,
            vehicle_type=vehicle_type,
            locations=locations,
            service_date=draft.service_date,
            settings=settings,
        ):
            stop = by_delivery[delivery.id]
            seq += 1
            stop.route_id, stop.seq = route_id, seq
            stop.mode, stop.option_seq = candidate.mode, candidate.option_seq
            stop.eta = eta
    session.flush()


def _hold_routes(*, session: Session, drafts: Sequence[ReplanDraft]) -> None:
    """Lock the drafts' vans in id order (the order a set-off holds them in), before any of
    their stops; replan_stale when one of them set off or finished since it was read. A van
    that set off left with its load: what was planned onto it as a van at the depot is
    stale, and so is a plan for a van that finished."""
    status_read = {r: s for draft in drafts for r, s in draft.status_read}
    route_ids = sorted({r for draft in drafts for r in draft.route_ids})
    if not route_ids:
        return
    held = session.execute(
        select(Route.id, Route.status)
        .where(Route.id.in_(route_ids))
        .order_by(Route.id)
        .with_for_update(key_share=True)
    )
    status_now = {route_id: status for route_id, status in held}
    if any(status_now.get(r) != status_read.get(r) for r in route_ids):
        raise Conflict("the day changed while it was re-planned; plan again", code="replan_stale")


def solve_replan(
    draft: ReplanDraft, *, seconds: float, seed: int = 0, by_insertion: bool = False
) -> DaySolution:
    """Solve a drafted re-plan and check it independently (Conflict when infeasible). Its
    stops stay required: a stop a re-plan cannot place keeps its place on its route.

    `by_insertion`: each van keeps its order and only the stops that would miss their window
    move (`insertion.repair_route`); no search, so no time budget and no check to fail."""
    if draft.day is None:
        return DaySolution(routes=[])
    if not by_insertion:
        return solve_and_check(draft.day, seconds, seed)
    routes = []
    for vehicle_type, van in enumerate(draft.day.vans):
        mine = [k for k, route_id in enumerate(draft.route_of) if route_id == van.route_id]
        order = [loc for k in mine if (loc := draft.current[k]) is not None]
        loose = [k for k in mine if draft.current[k] is None]
        locations = repair_route(draft.day.problem, vehicle_type, order, loose)
        if locations:
            routes.append((vehicle_type, locations))
    return DaySolution(routes=routes)


def stop_point(session: Session, stop: RouteStop) -> Point | None:
    delivery = lookups.get_delivery(session=session, delivery_id=stop.delivery_id)
    if stop.mode == "trunk" and stop.option_seq is not None:
        option = lookups.option(session=session, delivery_id=delivery.id, seq=stop.option_seq)
        return (option.latitude, option.longitude)
    if delivery.fallback_latitude is not None and delivery.fallback_longitude is not None:
        return (delivery.fallback_latitude, delivery.fallback_longitude)
    return None
