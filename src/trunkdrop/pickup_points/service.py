"""A carrier's pickup points: kept by the carrier, chosen by the fallback policy for a
parcel nobody could take, collected from by the customer with their code, and sent back
to the sender when not collected in time."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import domain as deliveries_domain
from trunkdrop.deliveries import lookups
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Delivery
from trunkdrop.errors import Conflict, Forbidden, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party, Role
from trunkdrop.pickup_points import domain
from trunkdrop.pickup_points.models import HeldParcel, PickupPoint
from trunkdrop.pickup_points.schemas import PickupPointCreate, PickupPointUpdate
from trunkdrop.store.base import new_id
from trunkdrop.store.pages import Order, Page, page_of


# -- the carrier's points ----------------------------------------------------------------
def create_point(
    *, session: Session, carrier: Party, point_in: PickupPointCreate, now: datetime
) -> PickupPoint:
    point = PickupPoint(
        id=new_id("pup"),
        carrier_id=carrier.id,
        stock=0,
        created_at=now,
        updated_at=now,
        **point_in.model_dump(),
    )
    session.add(point)
    session.flush()
    events.record(
        session=session,
        event=Event(
            kind="pickup_point.created",
            at=now,
            subject=point.id,
            actor=carrier.id,
            facts={"name": point.name, "kind": point.kind, "capacity": point.capacity},
        ),
    )
    return point


def get_point(*, session: Session, party: Party, point_id: str, lock: bool = False) -> PickupPoint:
    """The point, for its carrier (its staff act with the carrier's key) or an operator."""
    point = session.get(PickupPoint, point_id, with_for_update=lock or None)
    if point is None:
        raise NotFound(f"no pickup point with id {point_id!r}", field="point_id")
    if party.role != Role.operator and point.carrier_id != party.id:
        raise Forbidden("this pickup point belongs to another carrier")
    return point


def page_points(
    *, session: Session, party: Party, cursor: str | None, limit: int
) -> Page[PickupPoint]:
    """The carrier's pickup points (an operator's: all), oldest first."""
    query = select(PickupPoint)
    if party.role != Role.operator:
        query = query.where(PickupPoint.carrier_id == party.id)
    return page_of(
        session,
        query,
        order=(Order(PickupPoint.created_at), Order(PickupPoint.id)),
        key=lambda p: (p.created_at, p.id),
        cursor=cursor,
        limit=limit,
    )


def update_point(
    *, session: Session, party: Party, point_id: str, point_in: PickupPointUpdate, now: datetime
) -> PickupPoint:
    point = get_point(session=session, party=party, point_id=point_id, lock=True)
    changes: dict[str, Any] = point_in.model_dump(exclude_unset=True)
    if changes.get("capacity") is not None and changes["capacity"] < point.stock:
        raise Conflict(
            f"the point holds {point.stock} parcels now; capacity cannot go below that",
            code="capacity_below_stock",
            field="capacity",
        )
    for name, value in changes.items():
        if value is None:
            continue  # null leaves the field as it is, like leaving it out
        setattr(point, name, value)
    point.updated_at = now
    session.flush()
    events.record(
        session=session,
        event=Event(
            kind="pickup_point.updated",
            at=now,
            subject=point.id,
            actor=party.id,
            facts={"changed": sorted(k for k, v in changes.items() if v is not None)},
        ),
    )
    return point


# -- the fallback: a parcel goes to a point ------------------------------------------------
def choose_point(
    *, session: Session, settings: Settings, delivery: Delivery, now: datetime
) -> PickupPoint | None:
    """The nearest point of the delivery's carrier with room that opens again today, to
    the customer's address (or the car's first place). The carrier's points are locked
    (PostgreSQL): two fallbacks at once cannot both take a point's last place."""
    where = _customer_location(session=session, delivery=delivery)
    if where is None:
        return None
    points = list(
        session.scalars(
            select(PickupPoint)
            .where(PickupPoint.carrier_id == delivery.carrier_id)
            .order_by(PickupPoint.id)
            .with_for_update()
        )
    )
    chosen = domain.nearest_with_room(
        [
            domain.Candidate(p.id, p.latitude, p.longitude, p.capacity, p.stock, p.opening_hours)
            for p in points
        ],
        latitude=where[0],
        longitude=where[1],
        local=now.astimezone(ZoneInfo(settings.timezone)),
    )
    return None if chosen is None else next(p for p in points if p.id == chosen.id)


def _customer_location(*, session: Session, delivery: Delivery) -> tuple[float, float] | None:
    if delivery.fallback_latitude is not None and delivery.fallback_longitude is not None:
        return delivery.fallback_latitude, delivery.fallback_longitude
    options = lookups.options_of(session=session, delivery_id=delivery.id)
    if not options:
        return None
    return options[0].latitude, options[0].longitude


def hold(
    *,
    session: Session,
    settings: Settings,
    delivery: Delivery,
    point: PickupPoint,
    reason: str,
    now: datetime,
) -> HeldParcel:
    """The parcel goes to `point` (the driver hands it in at the end of the route; its
    place is taken from now, so the point is never promised more than it holds). The
    customer is sent a code, once; only its hash is kept."""
    delivery.status = deliveries_domain.check_delivery_transition(
        delivery.status, deliveries_domain.DeliveryStatus.at_pickup_point
    )
    delivery.outcome, delivery.outcome_reason = "at_pickup_point", reason
    code, salt = domain.new_code(), secrets.token_hex(16)
    held = HeldParcel(
        id=new_id("hld"),
        point_id=point.id,
        delivery_id=delivery.id,
        code_salt=salt,
        code_hash=domain.hash_code(code, salt),
        wrong_tries=0,
        status="held",
        arrived_at=now,
        collect_by=now + timedelta(days=settings.pickup_point_hold_days),
    )
    session.add(held)
    point.stock += 1
    facts = {
        "reason": reason,
        "fallback": deliveries_domain.FallbackKind.pickup_point,
        "pickup_point_id": point.id,
        "pickup_point": point.name,
        "address": point.address,
        "collect_by": held.collect_by.isoformat(),
    }
    events.record(
        session=session,
        event=Event(
            kind="delivery.at_pickup_point",
            at=now,
            subject=delivery.id,
            delivery_id=delivery.id,
            facts=facts,
            text=f"at the pickup point {point.name}, {point.address}, to collect by "
            f"{held.collect_by.astimezone(ZoneInfo(settings.timezone)):%Y-%m-%d}",
            parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
        ),
    )
    # The code goes to the customer alone, in their message: never into the event log,
    # the webhooks or the audit trail, which the shop, the carrier and operators read.
    events.record(
        session=session,
        event=Event(
            kind="delivery.pickup_code",
            at=now,
            subject=delivery.id,
            delivery_id=delivery.id,
            facts={**facts, "code": code},
            parties=(delivery.customer_id,),
        ),
    )
    session.flush()
    return held


# -- the customer collects -------------------------------------------------------------------
def collect(
    *,
    session: Session,
    settings: Settings,
    staff: Party,
    point_id: str,
    parcel_ref: str,
    code: str,
    now: datetime,
) -> tuple[HeldParcel, Delivery]:
    """The point's staff hand the parcel over for the customer's code. A wrong code counts
    (kept although the request fails); after `MAX_CODE_TRIES` the parcel is blocked."""
    point = get_point(session=session, party=staff, point_id=point_id, lock=True)
    if not domain.is_open(point.opening_hours, now.astimezone(ZoneInfo(settings.timezone))):
        raise Conflict("the pickup point is closed now", code="pickup_point_closed")
    found = session.execute(
        select(HeldParcel, Delivery)
        .join(Delivery, Delivery.id == HeldParcel.delivery_id)
        .where(
            HeldParcel.point_id == point.id,
            HeldParcel.status == "held",
            Delivery.parcel_ref == parcel_ref,
        )
        .with_for_update(of=HeldParcel)
    ).first()
    if found is None:
        raise NotFound(
            f"this point holds no parcel {parcel_ref!r}", code="parcel_not_held", field="parcel_ref"
        )
    held, delivery = found
    if held.wrong_tries >= domain.MAX_CODE_TRIES:
        raise Conflict(
            "too many wrong codes: this parcel is blocked; the customer asks the carrier",
            code="pickup_code_blocked",
        )
    if not domain.code_matches(code, salt=held.code_salt, code_hash=held.code_hash):
        held.wrong_tries += 1
        left = domain.MAX_CODE_TRIES - held.wrong_tries
        events.record(
            session=session,
            event=Event(
                kind="pickup_point.code_refused",
                at=now,
                subject=held.id,
                actor=staff.id,
                delivery_id=delivery.id,
                facts={"pickup_point_id": point.id, "tries_left": left},
            ),
        )
        refused = Forbidden(
            f"wrong pickup code; {left} tries left",
            code="pickup_code_wrong",
            field="code",
            extra={"tries_left": left},
        )
        refused.persist = True  # the count of wrong tries must outlive the refusal
        raise refused
    held.status, held.ended_at = "collected", now
    point.stock -= 1
    delivery.status = deliveries_domain.check_delivery_transition(
        delivery.status, deliveries_domain.DeliveryStatus.collected_by_customer
    )
    delivery.outcome, delivery.ended_at = "collected_pickup_point", now
    events.record(
        session=session,
        event=Event(
            kind="delivery.collected_by_customer",
            at=now,
            subject=delivery.id,
            actor=staff.id,
            delivery_id=delivery.id,
            facts={"pickup_point_id": point.id, "pickup_point": point.name},
            text=f"collected by the customer at {point.name} at "
            f"{deliveries.local_time(now, settings)}",
            parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
        ),
    )
    session.flush()
    return held, delivery


def return_uncollected(*, session: Session, settings: Settings, now: datetime) -> int:
    """Parcels not collected by their day go back to the sender; their places free up."""
    due = list(
        session.execute(
            select(HeldParcel.id, HeldParcel.point_id)
            .where(HeldParcel.status == "held", HeldParcel.collect_by <= now)
            .order_by(HeldParcel.point_id, HeldParcel.id)
            .limit(200)
        )
    )
    returned = 0
    for held_id, point_id in due:
        # The point first, then the parcel: the order a collection locks them in.
        point = session.get(PickupPoint, point_id, with_for_update=True)
        held = session.get(HeldParcel, held_id, with_for_update=True, populate_existing=True)
        assert point is not None
        assert held is not None
        if held.status != "held":
            continue  # collected meanwhile
        returned += 1
        delivery = lookups.get_delivery(session=session, delivery_id=held.delivery_id)
        held.status, held.ended_at = "returned", now
        point.stock -= 1
        delivery.status = deliveries_domain.check_delivery_transition(
            delivery.status, deliveries_domain.DeliveryStatus.returned_to_sender
        )
        delivery.outcome, delivery.outcome_reason, delivery.ended_at = (
            "returned_to_sender",
            "not_collected_in_time",
            now,
        )
        events.record(
            session=session,
            event=Event(
                kind="delivery.uncollected_returned",
                at=now,
                subject=delivery.id,
                delivery_id=delivery.id,
                facts={
                    "reason": "not_collected_in_time",
                    "fallback": deliveries_domain.FallbackKind.return_to_sender,
                    "pickup_point_id": point.id,
                    "pickup_point": point.name,
                },
                text=f"not collected from {point.name} in time; going back to the sender",
                parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
            ),
        )
    session.flush()
    return returned


def points_used(*, session: Session) -> int:
    """How many parcels went to a pickup point (for the simulated day's figures)."""
    return len(list(session.scalars(select(HeldParcel.id))))
