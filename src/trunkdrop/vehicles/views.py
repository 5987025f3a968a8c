"""Customer: link cars, block access, withdraw and give consent. Car maker: report events."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel

from trunkdrop.api.deps import (
    Carmaker,
    CommitInView,
    CurrentParty,
    Customer,
    NowDep,
    PlatformDep,
    SessionDep,
    SettingsDep,
)
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.deliveries import car_reports, withdrawals
from trunkdrop.schemas import ListPage
from trunkdrop.store.pages import page_in_memory
from trunkdrop.vehicles import service
from trunkdrop.vehicles.schemas import (
    CapabilitiesRead,
    VehicleEventAck,
    VehicleEventIn,
    VehicleLink,
    VehiclePage,
    VehicleRead,
)

router = APIRouter(tags=["vehicles"], route_class=CommitInView)
VehicleId = Annotated[str, Path(max_length=32)]


class BrandRead(BaseModel):
    brand: str
    display_name: str
    capabilities: CapabilitiesRead
    trunk_delivery_blockers: list[str]


class BrandPage(ListPage[BrandRead]):
    """A page of car brands, by name."""


@router.get("/brands", response_model=BrandPage)
def list_brands(platform: PlatformDep, _: CurrentParty, page: PageParams) -> BrandPage:
    """The car brands trunkdrop can talk to, with what each can do."""
    out = []
    for brand in platform.registry.brands():
        meta = platform.registry.get(brand).metadata
        out.append(
            BrandRead(
                brand=brand,
                display_name=meta.display_name,
                capabilities=CapabilitiesRead(**asdict(meta.capabilities)),
                trunk_delivery_blockers=meta.capabilities.trunk_delivery_blockers(),
            )
        )
    found = page_in_memory(out, key=lambda b: (b.brand,), cursor=page.cursor, limit=page.limit)
    return page_read(BrandPage, found, lambda b: b)


@router.post("/vehicles", response_model=VehicleRead, status_code=status.HTTP_201_CREATED)
def link_vehicle(
    vehicle_in: VehicleLink,
    session: SessionDep,
    platform: PlatformDep,
    owner: Customer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> VehicleRead:
    """Link a car: the owner's consent to trunk delivery starts here."""

    def create() -> VehicleRead:
        vehicle = service.link_vehicle(
            session=session,
            registry=platform.registry,
            owner=owner,
            vehicle_in=vehicle_in,
            now=now,
            grant_issuer=platform.settings.grant_issuer,
            grant_public_keys=platform.keyring(session).public_keys(
                now=now, longest_grant_s=platform.settings.grant_lifetime_s
            ),
        )
        return service.to_read(vehicle)

    return keyed.once(
        session=session,
        party=owner,
        settings=platform.settings,
        now=now,
        read=VehicleRead,
        create=create,
    )


@router.get("/vehicles", response_model=VehiclePage)
def list_vehicles(session: SessionDep, owner: Customer, page: PageParams) -> VehiclePage:
    """The caller's linked cars, the first linked first."""
    found = service.page_vehicles(
        session=session, owner=owner, cursor=page.cursor, limit=page.limit
    )
    return page_read(VehiclePage, found, service.to_read)


@router.get("/vehicles/{vehicle_id}", response_model=VehicleRead)
def get_vehicle(vehicle_id: VehicleId, session: SessionDep, owner: Customer) -> VehicleRead:
    """One of the caller's cars with what its maker's link can do."""
    return service.to_read(
        service.get_owned_vehicle(session=session, owner=owner, vehicle_id=vehicle_id)
    )


@router.post("/vehicles/{vehicle_id}/block", response_model=VehicleRead)
def block_access(
    vehicle_id: VehicleId, session: SessionDep, settings: SettingsDep, owner: Customer, now: NowDep
) -> VehicleRead:
    """Block all trunk access at once: live grants die, attempts at the car fail."""
    vehicle = withdrawals.set_access_blocked(
        session=session,
        settings=settings,
        owner=owner,
        vehicle_id=vehicle_id,
        blocked=True,
        now=now,
    )
    return service.to_read(vehicle)


@router.post("/vehicles/{vehicle_id}/unblock", response_model=VehicleRead)
def unblock_access(
    vehicle_id: VehicleId, session: SessionDep, settings: SettingsDep, owner: Customer, now: NowDep
) -> VehicleRead:
    """Allow trunk deliveries into this car again."""
    vehicle = withdrawals.set_access_blocked(
        session=session,
        settings=settings,
        owner=owner,
        vehicle_id=vehicle_id,
        blocked=False,
        now=now,
    )
    return service.to_read(vehicle)


@router.post("/vehicles/{vehicle_id}/consent", response_model=VehicleRead)
def give_consent(
    vehicle_id: VehicleId, session: SessionDep, platform: PlatformDep, owner: Customer, now: NowDep
) -> VehicleRead:
    """Give consent again after withdrawing it: the scopes the car maker confirms now."""
    vehicle = service.give_consent(
        session=session, registry=platform.registry, owner=owner, vehicle_id=vehicle_id, now=now
    )
    return service.to_read(vehicle)


@router.delete("/vehicles/{vehicle_id}/consent", response_model=VehicleRead)
def withdraw_consent(
    vehicle_id: VehicleId, session: SessionDep, settings: SettingsDep, owner: Customer, now: NowDep
) -> VehicleRead:
    """Withdraw consent: no shop may book into this car; live grants die."""
    vehicle = withdrawals.withdraw_consent(
        session=session, settings=settings, owner=owner, vehicle_id=vehicle_id, now=now
    )
    return service.to_read(vehicle)


@router.delete("/vehicles/{vehicle_id}", status_code=status.HTTP_204_NO_CONTENT)
def unlink_vehicle(
    vehicle_id: VehicleId, session: SessionDep, settings: SettingsDep, owner: Customer, now: NowDep
) -> None:
    """Unlink a car: live grants end, attempts at it fail, booked deliveries fall back.
    Another customer's car: 404."""
    withdrawals.unlink_vehicle(
        session=session, settings=settings, owner=owner, vehicle_id=vehicle_id, now=now
    )


@router.post(
    "/vehicle-events", response_model=VehicleEventAck, status_code=status.HTTP_202_ACCEPTED
)
def ingest_event(
    event_in: VehicleEventIn,
    session: SessionDep,
    settings: SettingsDep,
    carmaker: Carmaker,
    now: NowDep,
) -> VehicleEventAck:
    """A car maker's report about one of its cars. Idempotent on event_id."""
    assert carmaker.brand is not None
    fresh = car_reports.ingest_vehicle_event(
        session=session, settings=settings, brand=carmaker.brand, event_in=event_in, now=now
    )
    return VehicleEventAck(event_id=event_in.event_id, duplicate=not fresh)
