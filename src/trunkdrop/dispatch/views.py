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
from trunkdrop.dispatch import flows, routes, service
from trunkdrop.dispatch.schemas import (
    PlanCreate,
    PlanRead,
    ReplanCreate,
    RouteCreate,
    RouteRead,
    ServiceAreaCreate,
    ServiceAreaRead,
    StopRead,
    UnplannedRead,
)

router = APIRouter(tags=["dispatch"], route_class=CommitInView)
RouteId = Annotated[str, Path(max_length=32)]


@router.post("/service-areas", response_model=ServiceAreaRead, status_code=status.HTTP_201_CREATED)
def create_service_area(
    area_in: ServiceAreaCreate, session: SessionDep, carrier: Carrier, now: NowDep
) -> ServiceAreaRead:
    return ServiceAreaRead.model_validate(
        service.create_service_area(session=session, carrier=carrier, area_in=area_in, now=now)
    )


@router.get("/service-areas", response_model=list[ServiceAreaRead])
def list_service_areas(session: SessionDep, party: CurrentParty) -> list[ServiceAreaRead]:
    """A carrier's own areas with depots; shops and customers see coverage only."""
    areas, depots = service.service_areas_seen_by(session=session, party=party)
    return [
        ServiceAreaRead.model_validate(a)
        if depots
        else ServiceAreaRead.model_validate(a).model_copy(
            update={"depot_latitude": None, "depot_longitude": None}
        )
        for a in areas
    ]


@router.post("/routes", response_model=RouteRead, status_code=status.HTTP_201_CREATED)
def create_route(
    route_in: RouteCreate, session: SessionDep, settings: SettingsDep, carrier: Carrier, now: NowDep
) -> RouteRead:
    route = routes.plan_route(
        session=session,
        carrier=carrier,
        driver_id=route_in.driver_id,
        service_date=route_in.service_date,
        delivery_ids=route_in.delivery_ids,
        now=now,
    )
    return routes.route_to_read(session=session, settings=settings, route=route, now=now)


@router.get("/routes", response_model=list[RouteRead])
def list_routes(
    session: SessionDep,
    settings: SettingsDep,
    party: CarrierOrDriver,
    now: NowDep,
    service_date: Annotated[date | None, Query(alias="date")] = None,
) -> list[RouteRead]:
    return [
        routes.route_to_read(session=session, settings=settings, route=r, now=now)
        for r in service.list_routes(session=session, party=party, service_date=service_date)
    ]


@router.get("/routes/{route_id}", response_model=RouteRead)
def get_route(
    route_id: RouteId,
    session: SessionDep,
    settings: SettingsDep,
    party: CarrierOrDriver,
    now: NowDep,
) -> RouteRead:
    route = service.get_route(session=session, route_id=route_id)
    service.check_route_access(party, route)
    return routes.route_to_read(session=session, settings=settings, route=route, now=now)


@router.post("/routes/{route_id}/start", response_model=RouteRead)
def start_route(
    route_id: RouteId,
    session: SessionDep,
    settings: SettingsDep,
    party: CarrierOrDriver,
    now: NowDep,
) -> RouteRead:
    route = service.get_route(session=session, route_id=route_id)
    routes.start_route(session=session, settings=settings, party=party, route=route, now=now)
    return routes.route_to_read(session=session, settings=settings, route=route, now=now)


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
        )
    )


@router.get("/stops", response_model=list[StopRead])
def list_stops(
    session: SessionDep,
    settings: SettingsDep,
    party: CarrierOrDriver,
    now: NowDep,
    service_date: Annotated[date | None, Query(alias="date")] = None,
) -> list[StopRead]:
    """The day's stops: a driver sees their own routes', a carrier all of its routes'."""
    return [
        stop
        for route in service.list_routes(session=session, party=party, service_date=service_date)
        for stop in routes.route_to_read(
            session=session, settings=settings, route=route, now=now
        ).stops
    ]


@router.post("/plans", response_model=PlanRead, status_code=status.HTTP_201_CREATED)
def plan_day(
    plan_in: PlanCreate, session: SessionDep, platform: PlatformDep, carrier: Carrier, now: NowDep
) -> PlanRead:
    """Plan the day: every booked delivery onto the given drivers' vans (roaming places, home
    as an option); those no van can serve are listed with the reason and stay booked."""
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


@router.post("/plans/replan", response_model=list[RouteRead])
def replan(
    body: ReplanCreate, session: SessionDep, platform: PlatformDep, carrier: Carrier, now: NowDep
) -> list[RouteRead]:
    """Re-solve the rest of the day: done stops stay, vans start where they are, now."""
    planned = flows.replan(
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
