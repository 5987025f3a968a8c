"""Carrier: service areas and routes. Driver: the day's stops."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from trunkdrop.api.deps import (
    AtTheCar,
    Carrier,
    CarrierOrDriver,
    CommitInView,
    CurrentParty,
    NowDep,
    PlatformDep,
    SessionDep,
    SettingsDep,
)
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.dispatch import flows, loading, replans, routes, service
from trunkdrop.dispatch.schemas import (
    PlanCreate,
    PlanRead,
    ReplanCreate,
    RouteCreate,
    RoutePage,
    RouteRead,
    ServiceAreaCreate,
    ServiceAreaPage,
    ServiceAreaRead,
    StopPage,
    StopRead,
    UnplannedRead,
)
from trunkdrop.store.pages import page_in_memory

router = APIRouter(tags=["dispatch"], route_class=CommitInView)
RouteId = Annotated[str, Path(max_length=32)]


@router.post("/service-areas", response_model=ServiceAreaRead, status_code=status.HTTP_201_CREATED)
def create_service_area(
    area_in: ServiceAreaCreate,
    session: SessionDep,
    carrier: Carrier,
    now: NowDep,
    settings: SettingsDep,
    keyed: IdempotencyKey,
) -> ServiceAreaRead:
    """Add an area the carrier serves, with the depot its vans start from."""

    def create() -> ServiceAreaRead:
        return ServiceAreaRead.model_validate(
            service.create_service_area(session=session, carrier=carrier, area_in=area_in, now=now)
        )

    return keyed.once(
        session=session,
        party=carrier,
        settings=settings,
        now=now,
        read=ServiceAreaRead,
        create=create,
    )


@router.get("/service-areas", response_model=ServiceAreaPage)
def list_service_areas(
    session: SessionDep, party: CurrentParty, page: PageParams
) -> ServiceAreaPage:
    """A carrier's own areas with depots; shops and customers see coverage only."""
    areas, depots = service.service_areas_seen_by(session=session, party=party)
    found = page_in_memory(
        areas, key=lambda a: (a.created_at, a.id), cursor=page.cursor, limit=page.limit
    )
    return page_read(
        ServiceAreaPage,
        found,
        lambda a: (
            ServiceAreaRead.model_validate(a)
            if depots
            else ServiceAreaRead.model_validate(a).model_copy(
                update={"depot_latitude": None, "depot_longitude": None}
            )
        ),
    )


@router.post("/routes", response_model=RouteRead, status_code=status.HTTP_201_CREATED)
def create_route(
    route_in: RouteCreate,
    session: SessionDep,
    settings: SettingsDep,
    carrier: Carrier,
    now: NowDep,
    keyed: IdempotencyKey,
) -> RouteRead:
    """Put booked deliveries on a driver's route for a day, in the given order."""

    def create() -> RouteRead:
        route = routes.plan_route(
            session=session,
            carrier=carrier,
            driver_id=route_in.driver_id,
            service_date=route_in.service_date,
            delivery_ids=route_in.delivery_ids,
            now=now,
        )
        return routes.route_to_read(session=session, settings=settings, route=route, now=now)

    return keyed.once(
        session=session, party=carrier, settings=settings, now=now, read=RouteRead, create=create
    )


@router.get("/routes", response_model=RoutePage)
def list_routes(
    session: SessionDep,
    settings: SettingsDep,
    party: CarrierOrDriver,
    now: NowDep,
    page: PageParams,
    service_date: Annotated[date | None, Query(alias="date")] = None,
) -> RoutePage:
    """A driver's routes; a carrier's: all of its routes; by day."""
    found = service.page_routes(
        session=session,
        party=party,
        service_date=service_date,
        cursor=page.cursor,
        limit=page.limit,
    )
    return page_read(
        RoutePage,
        found,
        lambda r: routes.route_to_read(session=session, settings=settings, route=r, now=now),
    )


@router.get("/routes/{route_id}", response_model=RouteRead)
def get_route(
    route_id: RouteId,
    session: SessionDep,
    settings: SettingsDep,
    party: CarrierOrDriver,
    now: NowDep,
) -> RouteRead:
    """One route with its stops, their ETAs and which is next."""
    route = service.get_route(session=session, route_id=route_id)
    service.check_route_access(party, route)
    return routes.route_to_read(session=session, settings=settings, route=route, now=now)


@router.post("/routes/{route_id}/start", response_model=RouteRead)
def start_route(
    route_id: RouteId,
    session: SessionDep,
    platform: PlatformDep,
    party: CarrierOrDriver,
    now: NowDep,
) -> RouteRead:
    """The driver sets off: parcels whose car reported itself offline go to their next
    place, on whichever van still at the depot serves it; the customers are told the
    driver is on the way."""
    route = service.get_route(session=session, route_id=route_id)
    loading.set_off(
        session=session,
        settings=platform.settings,
        party=party,
        route=route,
        matrix=platform.matrix,
        now=now,
    )
    return routes.route_to_read(session=session, settings=platform.settings, route=route, now=now)


@router.post("/routes/{route_id}/close", response_model=RouteRead)
def close_route(
    route_id: RouteId,
    session: SessionDep,
    settings: SettingsDep,
    party: CarrierOrDriver,
    now: NowDep,
) -> RouteRead:
    """End the day: stops not reached are cancelled, their parcels wait for another day."""
    route = service.get_route(session=session, route_id=route_id)
    routes.close_route(session=session, party=party, route=route, now=now)
    return routes.route_to_read(session=session, settings=settings, route=route, now=now)


@router.get("/stops/next", response_model=StopRead)
async def next_stop(call: AtTheCar) -> StopRead:
    """The driver's next stop: the first open stop of their started routes (what the app
    shows at the wheel; it needs no other stop)."""
    return await call.unit(
        lambda session: routes.next_stop_to_read(
            session=session, settings=call.platform.settings, driver=call.driver, now=call.now
        ),
        plain_reads=True,
    )


@router.get("/stops", response_model=StopPage)
def list_stops(
    session: SessionDep,
    settings: SettingsDep,
    party: CarrierOrDriver,
    now: NowDep,
    page: PageParams,
    service_date: Annotated[date | None, Query(alias="date")] = None,
) -> StopPage:
    """The day's stops: a driver sees their own routes', a carrier all of its routes'."""
    # A stop is shown through its route (its ETA and whether it is next), so the routes are
    # read whole and the stops paged after.
    stops = [
        ((route.service_date, route.created_at, route.id, stop.seq), stop)
        for route in service.list_routes(session=session, party=party, service_date=service_date)
        for stop in routes.route_to_read(
            session=session, settings=settings, route=route, now=now
        ).stops
    ]
    found = page_in_memory(stops, key=lambda s: s[0], cursor=page.cursor, limit=page.limit)
    return page_read(StopPage, found, lambda s: s[1])


@router.post("/plans", response_model=PlanRead, status_code=status.HTTP_201_CREATED)
def plan_day(
    plan_in: PlanCreate,
    session: SessionDep,
    platform: PlatformDep,
    carrier: Carrier,
    now: NowDep,
    keyed: IdempotencyKey,
) -> PlanRead:
    """Plan the day: every booked delivery onto the given drivers' vans (roaming places, home
    as an option); those no van can serve are listed with the reason and stay booked."""

    def create() -> PlanRead:
        day = flows.plan_day(
            session=session,
            settings=platform.settings,
            carrier=carrier,
            plan_in=plan_in,
            matrix=platform.matrix,
            now=now,
        )
        return PlanRead(
            routes=[
                routes.route_to_read(session=session, settings=platform.settings, route=r, now=now)
                for r in day.routes
            ],
            unplanned=[UnplannedRead(delivery_id=d, reason=r) for d, r in day.unplanned],
        )

    return keyed.once(
        session=session,
        party=carrier,
        settings=platform.settings,
        now=now,
        read=PlanRead,
        create=create,
    )


@router.post("/plans/replan", response_model=list[RouteRead])
def replan(
    body: ReplanCreate, session: SessionDep, platform: PlatformDep, carrier: Carrier, now: NowDep
) -> list[RouteRead]:
    """Re-solve the rest of the day: done stops stay, vans start where they are, now."""
    planned = replans.replan(
        session=session,
        settings=platform.settings,
        carrier=carrier,
        service_date=body.service_date,
        seconds=body.seconds,
        capacity_l=body.van_capacity_l,
        shift_end_hour=body.shift_end_hour,
        matrix=platform.matrix,
        now=now,
    )
    return [
        routes.route_to_read(session=session, settings=platform.settings, route=r, now=now)
        for r in planned
    ]
