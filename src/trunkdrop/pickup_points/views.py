"""Carrier: keep pickup points and lockers. Point staff: hand a parcel over for its code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from trunkdrop.api.deps import (
    Carrier,
    CommitInView,
    NowDep,
    SessionDep,
    SettingsDep,
    role,
)
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.parties.models import Party, Role
from trunkdrop.pickup_points import service
from trunkdrop.pickup_points.schemas import (
    CollectionCreate,
    CollectionRead,
    PickupPointCreate,
    PickupPointPage,
    PickupPointRead,
    PickupPointUpdate,
)

router = APIRouter(tags=["pickup points"], route_class=CommitInView)
Id = Annotated[str, Path(max_length=32)]
# The point's staff act with their carrier's key; an operator may act for any carrier.
CarrierOrOperator = Annotated[Party, Depends(role(Role.carrier, Role.operator))]


@router.post("/pickup-points", response_model=PickupPointRead, status_code=status.HTTP_201_CREATED)
def create_pickup_point(
    point_in: PickupPointCreate,
    session: SessionDep,
    settings: SettingsDep,
    carrier: Carrier,
    now: NowDep,
    keyed: IdempotencyKey,
) -> PickupPointRead:
    """Add a pickup point or parcel locker: where it is, when it is open, how many parcels
    it holds. A delivery nobody could take goes to the nearest with room."""
    return keyed.once(
        session=session,
        party=carrier,
        settings=settings,
        now=now,
        read=PickupPointRead,
        create=lambda: PickupPointRead.model_validate(
            service.create_point(session=session, carrier=carrier, point_in=point_in, now=now)
        ),
    )


@router.get("/pickup-points", response_model=PickupPointPage)
def list_pickup_points(
    session: SessionDep, party: CarrierOrOperator, page: PageParams
) -> PickupPointPage:
    """The carrier's pickup points with the parcels each holds now, oldest first."""
    found = service.page_points(session=session, party=party, cursor=page.cursor, limit=page.limit)
    return page_read(PickupPointPage, found, PickupPointRead.model_validate)


@router.get("/pickup-points/{point_id}", response_model=PickupPointRead)
def get_pickup_point(
    point_id: Id, session: SessionDep, party: CarrierOrOperator
) -> PickupPointRead:
    """One pickup point with its stock."""
    return PickupPointRead.model_validate(
        service.get_point(session=session, party=party, point_id=point_id)
    )


@router.patch("/pickup-points/{point_id}", response_model=PickupPointRead)
def update_pickup_point(
    point_id: Id,
    point_in: PickupPointUpdate,
    session: SessionDep,
    carrier: Carrier,
    now: NowDep,
) -> PickupPointRead:
    """Change a point's name, place, opening hours or capacity (never below its stock)."""
    return PickupPointRead.model_validate(
        service.update_point(
            session=session, party=carrier, point_id=point_id, point_in=point_in, now=now
        )
    )


@router.post(
    "/pickup-points/{point_id}/collections",
    response_model=CollectionRead,
    status_code=status.HTTP_201_CREATED,
)
def collect_at_pickup_point(
    point_id: Id,
    collection_in: CollectionCreate,
    session: SessionDep,
    settings: SettingsDep,
    staff: CarrierOrOperator,
    now: NowDep,
    keyed: IdempotencyKey,
) -> CollectionRead:
    """The customer collects: the staff scan the parcel and enter the customer's code. A
    wrong code is refused and counted; after five the parcel is blocked. With an
    Idempotency-Key a repeated request answers the first collection again."""

    def create() -> CollectionRead:
        held, delivery = service.collect(
            session=session,
            settings=settings,
            staff=staff,
            point_id=point_id,
            parcel_ref=collection_in.parcel_ref,
            code=collection_in.code,
            now=now,
        )
        assert held.ended_at is not None
        return CollectionRead(
            delivery_id=delivery.id,
            parcel_ref=delivery.parcel_ref,
            point_id=held.point_id,
            status=delivery.status,
            collected_at=held.ended_at,
        )

    return keyed.once(
        session=session, party=staff, settings=settings, now=now, read=CollectionRead, create=create
    )
