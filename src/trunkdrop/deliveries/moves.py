"""Moving a booking to other windows or places while it is still only booked."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import domain, lookups
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Delivery, DeliveryOption
from trunkdrop.deliveries.schemas import DeliveryMove
from trunkdrop.dispatch import service as dispatch
from trunkdrop.errors import Conflict, InvalidInput
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.vehicles import service as vehicles


def move(
    *,
    session: Session,
    settings: Settings,
    actor: str,
    delivery: Delivery,
    move_in: DeliveryMove,
    now: datetime,
) -> Delivery:
    """Replace a trunk booking's itinerary by the same checks as booking. Only while it is
    booked and on no van's route: once planned, the carrier's plan is built on it (409)."""
    if (
        delivery.status != domain.DeliveryStatus.booked
        or delivery.mode != "trunk"
        or delivery.vehicle_id is None
        or dispatch.pending_stop_for(session=session, delivery_id=delivery.id) is not None
    ):
        state = "planned" if delivery.status == domain.DeliveryStatus.booked else delivery.status
        raise Conflict(
            f"a delivery that is {state} cannot be moved; only a trunk booking not yet planned",
            code="delivery_not_movable",
        )
    vehicle = lookups.vehicle_for(session=session, delivery=delivery)
    blockers = vehicles.trunk_delivery_blockers(vehicle, now=now)
    if blockers:
        raise Conflict(
            f"this car cannot take trunk deliveries: {', '.join(blockers)}",
            code="vehicle_not_eligible",
            field="vehicle_id",
            extra={"blockers": blockers},
        )
    resolved, carriers, _ = deliveries.checked_itinerary(
        session=session,
        settings=settings,
        customer_id=delivery.customer_id,
        itinerary=move_in.itinerary,
        now=now,
    )
    vehicles.check_consent_lasts(vehicle, until=max(w.end for _, w in resolved))
    # The carrier the shop booked stays: the new places must lie in its areas.
    if not carriers or delivery.carrier_id not in carriers:
        raise InvalidInput(
            "the delivery's carrier does not serve every place of the new itinerary",
            code="no_carrier_for_itinerary",
            field="itinerary",
        )
    day = resolved[0][1].start.astimezone(ZoneInfo(settings.timezone)).date()
    if delivery.door_window_start is not None and day != delivery.service_date:
        raise InvalidInput(
            "a delivery with a door window can be moved within its day only",
            code="itinerary_spans_days",
            field="itinerary",
        )
    session.execute(delete(DeliveryOption).where(DeliveryOption.delivery_id == delivery.id))
    for seq, (place, window) in enumerate(resolved, start=1):
        session.add(
            DeliveryOption(
                delivery_id=delivery.id,
                seq=seq,
                place_id=place.id,
                label=place.label,
                latitude=place.latitude,
                longitude=place.longitude,
                address=place.address,
                parking_notes=place.parking_notes,
                window_start=window.start,
                window_end=window.end,
            )
        )
    delivery.service_date, delivery.current_option = day, 1
    first_place, first_window = resolved[0]
    events.record(
        session=session,
        event=Event(
            kind="delivery.moved",
            at=now,
            subject=delivery.id,
            actor=actor,
            delivery_id=delivery.id,
            facts={"status": "booked", "service_date": day.isoformat()},
            text=f"moved to the trunk at {first_place.label}, "
            f"{deliveries.local_time(first_window.start, settings)}–"
            f"{deliveries.local_time(first_window.end, settings)}",
            parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
        ),
    )
    session.flush()
    return delivery
