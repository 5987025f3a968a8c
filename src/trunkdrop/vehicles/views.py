"""Customer: link cars, block access, withdraw and give consent. Car maker: report events."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal
from urllib.parse import urljoin

from fastapi import APIRouter, Path, Query, Request, status
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
from trunkdrop.errors import InvalidInput
from trunkdrop.schemas import ListPage
from trunkdrop.store.pages import page_in_memory
from trunkdrop.vehicles import consent, service
from trunkdrop.vehicles.models import VehicleConsentRequest
from trunkdrop.vehicles.schemas import (
    CapabilitiesRead,
    VehicleConsentRequestRead,
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
    # The owner approves at the car maker's page (POST /v1/vehicle-consents), not directly.
    consent_redirect: bool = False
    consent_lifetime_days: int | None = None


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
                consent_redirect=meta.consent_redirect,
                consent_lifetime_days=meta.consent_lifetime_days,
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


# RFC 6749 4.1.2.1: what a car maker may answer instead of a code.
CarMakerError = Literal[
    "access_denied",
    "invalid_request",
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
]


def _callback_uri(request: Request, platform: PlatformDep) -> str:
    base = (platform.settings.public_url or str(request.base_url)).rstrip("/") + "/"
    return urljoin(base, "v1/vehicle-consents/callback")


def _consent_read(
    request: Request, found: tuple[VehicleConsentRequest, str]
) -> VehicleConsentRequestRead:
    row, url = found
    return VehicleConsentRequestRead(
        id=row.id,
        brand=row.brand,
        # The simulated makers' pages are the platform's own: their URL is relative.
        authorization_url=urljoin(str(request.base_url), url),
        expires_at=row.expires_at,
    )


@router.post(
    "/vehicle-consents",
    response_model=VehicleConsentRequestRead,
    status_code=status.HTTP_201_CREATED,
)
def start_link_consent(
    vehicle_in: VehicleLink,
    request: Request,
    session: SessionDep,
    platform: PlatformDep,
    owner: Customer,
    now: NowDep,
) -> VehicleConsentRequestRead:
    """Link a car of a brand whose owner approves at the car maker: send the owner to the
    answer's `authorization_url`; the maker redirects back to the callback."""
    found = consent.start_link(
        session=session,
        registry=platform.registry,
        owner=owner,
        vehicle_in=vehicle_in,
        redirect_uri=_callback_uri(request, platform),
        now=now,
    )
    return _consent_read(request, found)


@router.get("/vehicle-consents/callback", response_model=VehicleRead)
def finish_consent(
    session: SessionDep,
    platform: PlatformDep,
    owner: Customer,
    now: NowDep,
    state: Annotated[str | None, Query(min_length=32, max_length=128)] = None,
    code: Annotated[str | None, Query(min_length=20, max_length=512)] = None,
    error: Annotated[CarMakerError | None, Query()] = None,
) -> VehicleRead:
    """Where the car maker sends the owner back: the car is linked (or its consent renewed)
    with the scopes the owner approved and the maker's expiry."""
    if state is None:
        raise InvalidInput("the car maker's answer has no state", field="state")
    vehicle = consent.finish(
        session=session,
        registry=platform.registry,
        owner=owner,
        state=state,
        code=code,
        error=error,
        now=now,
        grant_issuer=platform.settings.grant_issuer,
        grant_public_keys=platform.keyring(session).public_keys(
            now=now, longest_grant_s=platform.settings.grant_lifetime_s
        ),
    )
    return service.to_read(vehicle, now=now)


@router.post(
    "/vehicles/{vehicle_id}/consent-requests",
    response_model=VehicleConsentRequestRead,
    status_code=status.HTTP_201_CREATED,
)
def start_renewal_consent(
    vehicle_id: VehicleId,
    request: Request,
    session: SessionDep,
    platform: PlatformDep,
    owner: Customer,
    now: NowDep,
) -> VehicleConsentRequestRead:
    """Renew (or give again) a car's consent at its maker's page: as linking, through the
    answer's `authorization_url` and the callback."""
    found = consent.start_renewal(
        session=session,
        registry=platform.registry,
        owner=owner,
        vehicle_id=vehicle_id,
        redirect_uri=_callback_uri(request, platform),
        now=now,
    )
    return _consent_read(request, found)


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
    """Give consent again after withdrawing it, or renew it before or after it runs out: the
    scopes and term the car maker confirms now (brands that confirm directly)."""
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
