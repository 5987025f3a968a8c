"""Driver: register a handset. Carrier: approve it. Driver or carrier: revoke a lost handset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from trunkdrop.api.deps import (
    CarrierOrDriver,
    CommitInView,
    Driver,
    NowDep,
    SessionDep,
    SettingsDep,
)
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.deliveries import withdrawals
from trunkdrop.devices import service
from trunkdrop.devices.schemas import DevicePage, DeviceRead, DeviceRegister

router = APIRouter(tags=["devices"], route_class=CommitInView)
Id = Annotated[str, Path(max_length=32)]


@router.post("/devices", response_model=DeviceRead, status_code=status.HTTP_201_CREATED)
def register_device(
    device_in: DeviceRegister,
    session: SessionDep,
    driver: Driver,
    now: NowDep,
    settings: SettingsDep,
    keyed: IdempotencyKey,
) -> DeviceRead:
    """Register this handset's Ed25519 public key; grants will be bound to it once the
    driver's carrier has approved it (`POST /v1/devices/{id}/approve`)."""

    def create() -> DeviceRead:
        return DeviceRead.model_validate(
            service.register_device(session=session, driver=driver, device_in=device_in, now=now)
        )

    return keyed.once(
        session=session, party=driver, settings=settings, now=now, read=DeviceRead, create=create
    )


@router.get("/devices", response_model=DevicePage)
def list_devices(session: SessionDep, party: CarrierOrDriver, page: PageParams) -> DevicePage:
    """A driver's handsets; a carrier's: its drivers'."""
    found = service.list_devices(session=session, party=party, cursor=page.cursor, limit=page.limit)
    return page_read(DevicePage, found, DeviceRead.model_validate)


@router.post("/devices/{device_id}/approve", response_model=DeviceRead)
def approve_device(
    device_id: Id, session: SessionDep, party: CarrierOrDriver, now: NowDep
) -> DeviceRead:
    """The driver's carrier (or an operator) approves a registered handset: it may sign from
    now on. A driver cannot approve their own."""
    return DeviceRead.model_validate(
        service.approve_device(session=session, party=party, device_id=device_id, now=now)
    )


@router.post("/devices/{device_id}/revoke", response_model=DeviceRead)
def revoke_device(
    device_id: Id, session: SessionDep, settings: SettingsDep, party: CarrierOrDriver, now: NowDep
) -> DeviceRead:
    """A lost handset: revoked at once, with every live grant bound to it and every unlock
    it asked for that has not opened a trunk yet."""
    return DeviceRead.model_validate(
        withdrawals.revoke_device(
            session=session, settings=settings, party=party, device_id=device_id, now=now
        )
    )
