"""Operator controls for the car simulator: park a car, shut its trunk, take it offline.

These play the physical world (the owner driving off, the driver's hand on the lid);
everything the car reports still comes in through the ingest path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from trunkdrop.api.deps import CommitInView, NowDep, Operator, PlatformDep, UnitDep
from trunkdrop.bootstrap import Platform
from trunkdrop.errors import InvalidInput
from trunkdrop.schemas import Latitude, Longitude
from trunkdrop.vehicles import service

router = APIRouter(prefix="/sim", tags=["simulator"], route_class=CommitInView)
VehicleId = Annotated[str, Path(max_length=32)]


class SimAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["park", "close_trunk", "go_offline", "come_online"]
    latitude: Latitude | None = None
    longitude: Longitude | None = None


@router.post("/vehicles/{vehicle_id}")
async def act(
    vehicle_id: VehicleId,
    body: SimAction,
    unit: UnitDep,
    platform: PlatformDep,
    _: Operator,
    now: NowDep,
) -> dict[str, Any]:
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
    # The simulated cars live in this process's memory: after a restart a linked car is
    # simulated afresh (parked, locked), not a 500.
    sim.ensure_car(vehicle.brand, vehicle.external_id)
    if body.action == "park":
        if body.latitude is None or body.longitude is None:
            raise InvalidInput("park needs latitude and longitude", field="latitude")
        sim.park(vehicle.brand, vehicle.external_id, body.latitude, body.longitude, now)
    elif body.action == "close_trunk":
        sim.close_trunk(vehicle.brand, vehicle.external_id, now)
    elif body.action == "go_offline":
        sim.go_offline(vehicle.brand, vehicle.external_id, now)
    else:
        sim.come_online(vehicle.brand, vehicle.external_id, now)
    return sim.car(vehicle.brand, vehicle.external_id).snapshot()
