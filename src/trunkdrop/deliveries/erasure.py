"""What a customer's erasure leaves of their deliveries: the shipping record (ids, parcel,
status, times) without their places, addresses or the words of their timeline."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trunkdrop.deliveries.models import Delivery, DeliveryOption, TimelineEntry

ERASED = "[erased]"


def erase_customer_copies(*, session: Session, customer_id: str) -> int:
    """Blank the itinerary copies, fallback addresses and timeline texts of every delivery
    of the customer; the rows stay for the shop's and carrier's records. Returns how many
    deliveries."""
    ids = select(Delivery.id).where(Delivery.customer_id == customer_id).scalar_subquery()
    session.execute(
        update(DeliveryOption)
        .where(DeliveryOption.delivery_id.in_(ids))
        .values(label=ERASED, address="", parking_notes="", latitude=0.0, longitude=0.0),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(TimelineEntry).where(TimelineEntry.delivery_id.in_(ids)).values(text=ERASED),
        execution_options={"synchronize_session": False},
    )
    erased = session.execute(
        update(Delivery)
        .where(Delivery.customer_id == customer_id)
        .values(fallback_address=None, fallback_latitude=None, fallback_longitude=None),
        execution_options={"synchronize_session": False},
    )
    session.expire_all()
    return int(erased.rowcount or 0)  # type: ignore[attr-defined]
