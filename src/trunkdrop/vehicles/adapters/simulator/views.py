"""Operator controls for the car simulator: park a car, shut its trunk, take it offline,
a handset answering the car over Bluetooth.

These play the physical world (the owner driving off, the driver's hand on the lid);
everything the car reports still comes in through the ingest path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from trunkdrop.api.deps import CommitInView, NowDep, Operator, PlatformDep, UnitDep
from trunkdrop.bootstrap import Platform
from trunkdrop.errors import InvalidInput, ServiceUnavailable
from trunkdrop.schemas import Latitude, Longitude
from trunkdrop.vehicles import service
from trunkdrop.vehicles.ports import AdapterError

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
        lambda session: _act(session, platform, vehicle_id, body, now), reads_only=True
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
