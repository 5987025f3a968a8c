"""Operator controls for the car simulator: park a car, shut its trunk, take it offline,
a handset answering the car over Bluetooth; and the simulated car makers' consent page.

These play the physical world (the owner driving off, the driver's hand on the lid);
everything the car reports still comes in through the ingest path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from trunkdrop.api.deps import CommitInView, NowDep, Operator, PlatformDep, UnitDep
from trunkdrop.bootstrap import Platform
from trunkdrop.errors import InvalidInput, NotFound, ServiceUnavailable
from trunkdrop.schemas import Latitude, Longitude
from trunkdrop.vehicles import service
from trunkdrop.vehicles.adapters.simulator.adapter import CLIENT_ID
from trunkdrop.vehicles.ports import CONSENT_SCOPES, AdapterError

router = APIRouter(prefix="/sim", tags=["simulator"], route_class=CommitInView)
VehicleId = Annotated[str, Path(max_length=32)]


class SimAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal[
        "park", "close_trunk", "go_offline", "come_online", "car_challenge", "handset_nearby"
    ]
    # Where the car parks, or where the handset truly is (handset_nearby).
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    # handset_nearby: the handset's answer to the car's challenge over the short-range link.
    public_key: str | None = Field(None, max_length=64)
    nonce: str | None = Field(None, max_length=128)
    signature: str | None = Field(None, max_length=128)


@router.post("/vehicles/{vehicle_id}")
async def act(
    vehicle_id: VehicleId,
    body: SimAction,
    unit: UnitDep,
    platform: PlatformDep,
    _: Operator,
    now: NowDep,
) -> dict[str, Any]:
    """Move the simulated car (park, close the trunk, go offline …): development and tests only."""
    # The car is simulated in memory; the database is only asked which car this is.
    return await unit(
        lambda session: _act(session, platform, vehicle_id, body, now),
        reads_only=True,
        plain_reads=True,
    )


def _act(
    session: Session, platform: Platform, vehicle_id: str, body: SimAction, now: datetime
) -> dict[str, Any]:
    vehicle = service.get_vehicle(session=session, vehicle_id=vehicle_id)
    sim = platform.simulator
    if not vehicle.brand.startswith("sim-"):
        raise InvalidInput("this car is not simulated", field="vehicle_id")
    if platform.car_link is not None:
        return _act_over_the_link(platform, vehicle.brand, vehicle.external_id, body, now)
    # The simulated cars live in this process's memory: after a restart a linked car is
    # simulated afresh (parked, locked), not a 500.
    sim.ensure_car(vehicle.brand, vehicle.external_id)
    where = None
    if body.latitude is not None and body.longitude is not None:
        where = (body.latitude, body.longitude)
    if body.action == "car_challenge":
        nonce = sim.car_challenge(vehicle.brand, vehicle.external_id, now)
        return {**sim.car(vehicle.brand, vehicle.external_id).snapshot(), "nonce": nonce}
    if body.action == "handset_nearby":
        if where is None:
            raise InvalidInput("handset_nearby needs latitude and longitude", field="latitude")
        verdict = sim.handset_nearby(
            vehicle.brand,
            vehicle.external_id,
            public_key=body.public_key or "",
            nonce=body.nonce or "",
            signature=body.signature or "",
            at=where,
            now=now,
        )
        return {**sim.car(vehicle.brand, vehicle.external_id).snapshot(), "handset": verdict}
    if body.action == "park":
        if where is None:
            raise InvalidInput("park needs latitude and longitude", field="latitude")
        sim.park(vehicle.brand, vehicle.external_id, where[0], where[1], now)
    elif body.action == "close_trunk":
        sim.close_trunk(vehicle.brand, vehicle.external_id, now)
    elif body.action == "go_offline":
        sim.go_offline(vehicle.brand, vehicle.external_id, now)
    else:
        sim.come_online(vehicle.brand, vehicle.external_id, now)
    return sim.car(vehicle.brand, vehicle.external_id).snapshot()


def _act_over_the_link(
    platform: Platform, brand: str, external_id: str, body: SimAction, now: datetime
) -> dict[str, Any]:
    """The simulated cars run in their own process (`trunkdrop cars`): the control goes to
    them as a message on the car's `…/sim` topic, and what they do comes back as reports."""
    from trunkdrop.vehicles.adapters.mqtt.control import FleetControl

    assert platform.car_link is not None
    if body.action in ("car_challenge", "handset_nearby"):
        # These answer at once (a nonce, a verdict): not yet carried over the car link.
        raise InvalidInput(f"{body.action} is not available over the MQTT car link", field="action")
    where = None
    if body.latitude is not None and body.longitude is not None:
        where = (body.latitude, body.longitude)
    if body.action == "park" and where is None:
        raise InvalidInput("park needs latitude and longitude", field="latitude")
    try:
        FleetControl(platform.car_link).act(brand, external_id, body.action, now=now, where=where)
    except AdapterError as e:
        raise ServiceUnavailable(f"the car link did not take the control: {e}") from e
    return {"brand": brand, "external_id": external_id, "action": body.action, "sent": True}


# -- the simulated car makers' consent page ---------------------------------------------------
# What a car maker's own authorisation page does for brands with `consent_redirect`: the
# owner (signed in at the maker; here anyone) approves the platform's scopes for one car
# and is sent back with a code. Development and tests only, like the controls above.

Brand = Annotated[str, Path(max_length=64)]
CALLBACK_PATH = "/v1/vehicle-consents/callback"


class CarMakerAsk(BaseModel):
    """What the platform asks the owner to approve at the simulated car maker."""

    brand: str
    vehicle: str
    scopes: list[str]
    redirect_uri: str
    state: str


def _ask(
    platform: Platform,
    brand: str,
    response_type: str,
    client_id: str,
    redirect_uri: str,
    scope: str,
    code_challenge_method: str,
) -> list[str]:
    if brand not in platform.registry.brands() or not brand.startswith("sim-"):
        raise NotFound(f"no simulated car maker {brand!r}", field="brand")
    if not platform.registry.get(brand).metadata.consent_redirect:
        raise InvalidInput(f"{brand} confirms cars directly", field="brand")
    if response_type != "code" or client_id != CLIENT_ID:
        raise InvalidInput(
            "response_type must be code, client_id the platform's", field="client_id"
        )
    if code_challenge_method != "S256":
        raise InvalidInput("PKCE with S256 only", field="code_challenge_method")
    # The maker sends codes only to the platform's registered callback: no open redirect.
    if not redirect_uri.startswith(("http://", "https://")) or not redirect_uri.split("?")[
        0
    ].endswith(CALLBACK_PATH):
        raise InvalidInput("redirect_uri is not the platform's callback", field="redirect_uri")
    scopes = scope.split()
    if not scopes or any(s not in CONSENT_SCOPES for s in scopes):
        raise InvalidInput(f"scope must be among {', '.join(CONSENT_SCOPES)}", field="scope")
    return scopes


AskParam = Annotated[str, Query(min_length=1, max_length=128)]
UriParam = Annotated[str, Query(min_length=1, max_length=500)]


# The maker's pages are not trunkdrop's API: left out of its OpenAPI document.
@router.get("/carmaker/{brand}/authorize", response_model=CarMakerAsk, include_in_schema=False)
def carmaker_page(
    brand: Brand,
    platform: PlatformDep,
    response_type: AskParam,
    client_id: AskParam,
    redirect_uri: UriParam,
    scope: AskParam,
    state: AskParam,
    code_challenge: AskParam,
    code_challenge_method: AskParam,
    vehicle: Annotated[str, Query(min_length=1, max_length=64)],
) -> CarMakerAsk:
    """The simulated car maker's consent page: what the owner is asked to approve."""
    scopes = _ask(
        platform, brand, response_type, client_id, redirect_uri, scope, code_challenge_method
    )
    return CarMakerAsk(
        brand=brand, vehicle=vehicle, scopes=scopes, redirect_uri=redirect_uri, state=state
    )


@router.post(
    "/carmaker/{brand}/authorize",
    status_code=303,
    response_class=RedirectResponse,
    include_in_schema=False,
)
def carmaker_decide(
    brand: Brand,
    platform: PlatformDep,
    now: NowDep,
    decision: Annotated[Literal["approve", "deny"], Query()],
    response_type: AskParam,
    client_id: AskParam,
    redirect_uri: UriParam,
    scope: AskParam,
    state: AskParam,
    code_challenge: AskParam,
    code_challenge_method: AskParam,
    vehicle: Annotated[str, Query(min_length=1, max_length=64)],
) -> RedirectResponse:
    """The owner approves (`decision=approve`) or denies: back to the platform's callback
    with a code or `error=access_denied`."""
    scopes = _ask(
        platform, brand, response_type, client_id, redirect_uri, scope, code_challenge_method
    )
    maker = platform.simulator.carmaker
    if decision == "deny":
        return RedirectResponse(maker.deny(state=state, redirect_uri=redirect_uri), 303)
    target = maker.approve(
        brand=brand,
        external_id=vehicle,
        scopes=tuple(scopes),
        state=state,
        code_challenge=code_challenge,
        redirect_uri=redirect_uri,
        now=now,
    )
    return RedirectResponse(target, 303)
