"""Service areas, routes and their stops: who drives which visit, in which order."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from trunkdrop.dispatch.models import ReplanRequest, Route, RouteStop, ServiceArea
from trunkdrop.dispatch.schemas import ServiceAreaCreate
from trunkdrop.errors import Forbidden, InvalidInput, NotFound
from trunkdrop.geo import distance_m
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.base import new_id
from trunkdrop.store.pages import Order, Page, page_of


def create_service_area(
    *, session: Session, carrier: Party, area_in: ServiceAreaCreate, now: datetime
) -> ServiceArea:
    area = ServiceArea(
        id=new_id("sa"), carrier_id=carrier.id, created_at=now, **area_in.model_dump()
    )
    session.add(area)
    session.flush()
    return area


def list_service_areas(*, session: Session, carrier_id: str | None = None) -> list[ServiceArea]:
    query = select(ServiceArea).order_by(ServiceArea.created_at, ServiceArea.id)
    if carrier_id is not None:
        query = query.where(ServiceArea.carrier_id == carrier_id)
    return list(session.scalars(query))


def service_areas_seen_by(*, session: Session, party: Party) -> tuple[list[ServiceArea], bool]:
    """The service areas `party` may list, and whether it may see their depots. A carrier
    (and its drivers) sees its own; shops and customers see where trunk delivery is
    offered, without the depots (a carrier's sites are its business); operators see all."""
    if party.role == Role.operator:
        return list_service_areas(session=session), True
    if party.role == Role.carrier:
        return list_service_areas(session=session, carrier_id=party.id), True
    if party.role == Role.driver and party.carrier_id is not None:
        return list_service_areas(session=session, carrier_id=party.carrier_id), True
    if party.role in (Role.retailer, Role.customer):
        return list_service_areas(session=session), False
    raise Forbidden("service areas are listed for carriers, their drivers, shops and customers")


def areas_covering(areas: list[ServiceArea], lat: float, lon: float) -> list[ServiceArea]:
    return [a for a in areas if distance_m(a.latitude, a.longitude, lat, lon) <= a.radius_m]


def create_route(
    *,
    session: Session,
    carrier: Party,
    driver_id: str,
    service_date: date,
    now: datetime,
    capacity_l: int | None = None,
    shift: tuple[int, int] | None = None,
) -> Route:
    """A route for `driver_id`'s van; `capacity_l` and `shift` (start and end, seconds of the
    local day) are the van and hours it is planned for."""
    driver = session.get(Party, driver_id)
    if driver is None or driver.role != Role.driver:
        raise NotFound(f"no driver with id {driver_id!r}", field="driver_id")
    if driver.carrier_id != carrier.id:
        raise Forbidden("this driver works for another carrier", field="driver_id")
    route = Route(
        id=new_id("rte"),
        carrier_id=carrier.id,
        driver_id=driver.id,
        service_date=service_date,
        status="planned",
        created_at=now,
        capacity_l=capacity_l,
        shift_start_s=shift[0] if shift else None,
        shift_end_s=shift[1] if shift else None,
    )
    session.add(route)
    session.flush()
    return route


def add_stop(
    *, session: Session, route: Route, delivery_id: str, mode: str, option_seq: int | None
) -> RouteStop:
    last = session.scalar(select(func.max(RouteStop.seq)).where(RouteStop.route_id == route.id))
    stop = RouteStop(
        id=new_id("stp"),
        route_id=route.id,
        delivery_id=delivery_id,
        seq=(last or 0) + 1,
        mode=mode,
        option_seq=option_seq,
        status="pending",
    )
    session.add(stop)
    session.flush()
    return stop


def get_route(*, session: Session, route_id: str) -> Route:
    route = session.get(Route, route_id)
    if route is None:
        raise NotFound(f"no route with id {route_id!r}", field="route_id")
    return route


def hold_vans_at_depot(*, session: Session, route: Route) -> None:
    """Lock `route` and the other vans of its carrier and day still at the depot, in id
    order, and read `route` again after the lock.

    A van that sets off and a loading check that weighs vans at the depot then run one after
    the other (PostgreSQL; SQLite has one writer): a parcel is never moved onto a van that
    left meanwhile, a van leaves with the parcels moved onto it, and two set-offs of one van
    cannot both pass its status check. One order for every locker, so none waits for another
    that waits for it. FOR NO KEY UPDATE: the stops' inserts (a key share) still go on.

    Taken by a van that has a car to weigh (`loading.set_off`, `loading.check_load`); a van
    that just leaves holds its own row only (`hold_route`). Once per transaction: a second
    call would lock a van committed meanwhile after vans of higher id, out of order."""
    held = session.info.get(_VANS_HELD)
    if held is not None and held[0] is session.get_transaction() and route.id in held[1]:
        return
    ids = session.scalars(
        select(Route.id)
        .where(
            Route.carrier_id == route.carrier_id,
            Route.service_date == route.service_date,
            (Route.status == "planned") | (Route.id == route.id),
        )
        .order_by(Route.id)
        .with_for_update(key_share=True)
    ).all()
    session.info[_VANS_HELD] = (session.get_transaction(), frozenset(ids))
    session.refresh(route)


_VANS_HELD = "trunkdrop.vans_held"


def hold_route(*, session: Session, route: Route) -> None:
    """Lock `route`'s own row (FOR NO KEY UPDATE) and read it again after the lock. Taken
    before anything else by a change that starts or ends the route (`routes.start_route`,
    `routes.close_route`): a set-off or loading check holding it finishes first, and one
    lock taken first joins no cycle. (Within `hold_vans_at_depot` it is held already.)"""
    session.scalars(
        select(Route.id).where(Route.id == route.id).with_for_update(key_share=True)
    ).all()
    session.refresh(route)


def check_route_access(party: Party, route: Route) -> None:
    if party.role == Role.operator:
        return
    if party.role == Role.carrier and route.carrier_id == party.id:
        return
    if party.role == Role.driver and route.driver_id == party.id:
        return
    raise Forbidden("this route belongs to another carrier or driver")


def list_routes(*, session: Session, party: Party, service_date: date | None = None) -> list[Route]:
    query = _routes_of(party, service_date).order_by(Route.service_date, Route.created_at)
    return list(session.scalars(query))


def page_routes(
    *, session: Session, party: Party, service_date: date | None, cursor: str | None, limit: int
) -> Page[Route]:
    """The routes `party` drives or runs, by day, one page."""
    return page_of(
        session,
        _routes_of(party, service_date),
        order=(Order(Route.service_date), Order(Route.created_at), Order(Route.id)),
        key=lambda r: (r.service_date, r.created_at, r.id),
        cursor=cursor,
        limit=limit,
    )


def _routes_of(party: Party, service_date: date | None) -> Select[Any]:
    query = select(Route)
    if party.role == Role.carrier:
        query = query.where(Route.carrier_id == party.id)
    elif party.role == Role.driver:
        query = query.where(Route.driver_id == party.id)
    elif party.role != Role.operator:
        raise Forbidden("routes are for carriers, drivers and operators")
    if service_date is not None:
        query = query.where(Route.service_date == service_date)
    return query


def stops_of(*, session: Session, route_id: str) -> list[RouteStop]:
    return list(
        session.scalars(
            select(RouteStop).where(RouteStop.route_id == route_id).order_by(RouteStop.seq)
        )
    )


def get_stop(*, session: Session, stop_id: str, for_update: bool = False) -> RouteStop:
    # for_update: a re-plan may be moving this stop; whoever locks it first goes on.
    stop = session.get(RouteStop, stop_id, with_for_update=for_update)
    if stop is None:
        raise NotFound(f"no stop with id {stop_id!r}", field="stop_id")
    return stop


def next_open_stop(*, session: Session, route_id: str) -> RouteStop | None:
    """The driver's next stop opens only when every earlier one is finished."""
    return session.scalars(_NEXT_OPEN_STOP, {"route_id": route_id}).first()


# Asked at every attempt started and every delivery finished: built once.
_NEXT_OPEN_STOP = (
    select(RouteStop)
    .where(RouteStop.route_id == bindparam("route_id"), RouteStop.status == "pending")
    .order_by(RouteStop.seq)
    .limit(1)
)


def drivers_open_stops(*, driver_id: str | BindParameter[str]) -> Select[RouteStop]:
    """The open stops of the driver's started routes, the next first: today's route before
    one left started on an earlier day. The app asks before every stop, and a driver's
    past routes must not make it slower."""
    return (
        select(RouteStop)
        .join(Route, Route.id == RouteStop.route_id)
        .where(
            Route.driver_id == driver_id,
            Route.status == "started",
            RouteStop.status == "pending",
        )
        .order_by(Route.service_date.desc(), Route.created_at, RouteStop.seq)
    )


def drivers_next_stop_id(*, session: Session, driver_id: str) -> str | None:
    """The one stop the driver is to make now (the first of `drivers_open_stops`), or None."""
    return session.scalars(_DRIVERS_NEXT_STOP_ID, {"driver_id": driver_id}).first()


_DRIVERS_NEXT_STOP_ID = (
    drivers_open_stops(driver_id=bindparam("driver_id")).with_only_columns(RouteStop.id).limit(1)
)


def pending_stop_for(*, session: Session, delivery_id: str) -> RouteStop | None:
    return session.scalars(
        select(RouteStop).where(RouteStop.delivery_id == delivery_id, RouteStop.status == "pending")
    ).first()


def finish_stop(*, stop: RouteStop, status: str) -> None:
    if status not in ("done", "failed", "cancelled"):
        raise InvalidInput(f"unknown stop status {status!r}")
    stop.status = status


def maybe_finish_route(*, session: Session, route_id: str, stops_open: bool | None = None) -> None:
    """Finish a started route none of whose stops is open any more (`stops_open`: already
    read by the caller in this transaction; None: looked up here)."""
    route = session.get(Route, route_id)
    if route is None or route.status != "started":
        return
    if stops_open is None:
        stops_open = next_open_stop(session=session, route_id=route_id) is not None
    if not stops_open:
        route.status = "finished"
        session.flush()


def has_attempt(*, session: Session, stop_id: str) -> bool:
    return bool(stops_with_attempts(session=session, stop_ids=[stop_id]))


def stops_with_attempts(*, session: Session, stop_ids: Sequence[str]) -> set[str]:
    """Those of these stops where an attempt exists (a driver is at it, or was)."""
    from trunkdrop.deliveries.models import Attempt

    if not stop_ids:
        return set()
    return set(session.scalars(select(Attempt.stop_id).where(Attempt.stop_id.in_(stop_ids))))


def replan_requested(*, session: Session, route_id: str) -> bool:
    """Whether the route asked for a re-plan that no planner has taken yet."""
    return (
        session.scalars(
            select(ReplanRequest.id).where(
                ReplanRequest.route_id == route_id, ReplanRequest.done_at.is_(None)
            )
        ).first()
        is not None
    )


def request_replan(*, session: Session, route: Route, reason: str, now: datetime) -> None:
    """Ask the planner to re-order the rest of a route (once, however often asked)."""
    if not replan_requested(session=session, route_id=route.id):
        session.add(ReplanRequest(route_id=route.id, reason=reason, requested_at=now))
        session.flush()


def last_replan(*, session: Session, route_id: str) -> datetime | None:
    """When the planner last took up a request for this route."""
    return session.scalar(
        select(func.max(ReplanRequest.done_at)).where(ReplanRequest.route_id == route_id)
    )


def claim_replan_requests(
    *,
    session: Session,
    now: datetime,
    lease: timedelta,
    limit: int = 20,
    route_ids: Collection[str] | None = None,
) -> list[ReplanRequest]:
    """Take open requests for this planner (of `route_ids` only, when given): each is claimed
    by one conditional update, so two planners (API processes) never take the same one. A
    request taken by a planner that died before answering (no outcome after `lease`) is
    taken again."""
    claimable = or_(
        ReplanRequest.done_at.is_(None),
        and_(ReplanRequest.outcome.is_(None), ReplanRequest.done_at < now - lease),
    )
    waiting_query = select(ReplanRequest.id).where(claimable)
    if route_ids is not None:
        waiting_query = waiting_query.where(ReplanRequest.route_id.in_(list(route_ids)))
    waiting = session.scalars(
        waiting_query.order_by(ReplanRequest.requested_at, ReplanRequest.id).limit(limit)
    ).all()
    claimed = []
    for request_id in waiting:
        won = session.execute(
            update(ReplanRequest)
            .where(ReplanRequest.id == request_id, claimable)
            .values(done_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(won, "rowcount", 0) == 1:
            request = session.get(ReplanRequest, request_id)
            if request is not None:
                session.refresh(request)
                claimed.append(request)
    return claimed
