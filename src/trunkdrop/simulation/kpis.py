"""Key figures of a simulated day, read back from the platform's own database."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trunkdrop.access.models import AuditEntry, Grant
from trunkdrop.deliveries.models import Attempt, Delivery
from trunkdrop.dispatch.costs import CostModel
from trunkdrop.incidents.models import Incident
from trunkdrop.pickup_points.models import HeldParcel
from trunkdrop.simulation.day import DayRecord


def kpis(session: Session, record: DayRecord, costs: CostModel | None = None) -> dict[str, Any]:
    """The day's figures; money and CO2 priced with `costs` (the default model if None).

    cost_per_parcel: the day's cost (vans, km, driver hours including waiting) plus, for each
    parcel not delivered today, one more attempt at the day's average cost per attempt (a
    failed first attempt causes a second one; one made today is in the day's cost already),
    divided by the parcels booked, all of which are delivered in the end."""
    costs = costs or CostModel()
    # The parcel figures are the deliveries'; returns and sends (pickups) have their own.
    purpose = {
        row.id: row.purpose for row in session.execute(select(Delivery.id, Delivery.purpose))
    }
    booked = sum(1 for kind in purpose.values() if kind == "delivery")
    every_attempt = list(session.scalars(select(Attempt).order_by(Attempt.started_at, Attempt.id)))
    attempts = [a for a in every_attempt if purpose.get(a.delivery_id) == "delivery"]
    first: dict[str, Attempt] = {}
    for a in every_attempt:
        first.setdefault(a.delivery_id, a)
    first_ok = sum(
        1
        for a in first.values()
        if a.status == "succeeded" and purpose[a.delivery_id] == "delivery"
    )
    failed_by_reason = Counter(
        a.failure_reason or "unknown" for a in attempts if a.status == "failed"
    )
    not_reached = (
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.outcome_reason == "not_reached",
                Delivery.status == "booked",
                Delivery.purpose == "delivery",
            )
        )
        or 0
    )
    if not_reached:
        failed_by_reason["not_reached"] += not_reached
    outcomes = Counter(
        (d.status, d.outcome)
        for d in session.scalars(select(Delivery).where(Delivery.purpose == "delivery"))
    )
    pickups = Counter(
        (d.purpose, d.status)
        for d in session.scalars(select(Delivery).where(Delivery.purpose != "delivery"))
    )
    collections = sum(pickups.values())
    collected_first = sum(
        1
        for a in first.values()
        if a.status == "succeeded" and purpose[a.delivery_id] != "delivery"
    )
    grants = Counter(session.scalars(select(Grant.status)))
    refused = (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action.in_(("access.refused", "grant.refused")))
        )
        or 0
    )
    unlock_to_lock = sorted(
        (a.secured_at - a.trunk_opened_at).total_seconds()
        for a in attempts
        if a.trunk_opened_at is not None and a.secured_at is not None
    )
    km = sum(d.km for d in record.drivers)
    van_hours = sum(
        ((d.ended_s or 0) - (d.started_s or 0)) / 3600
        for d in record.drivers
        if d.started_s is not None
    )
    delivered = sum(n for (status, _), n in outcomes.items() if status == "delivered")
    day_eur = costs.day_eur(vans=len(record.drivers), km=km, van_hours=van_hours)
    per_attempt = day_eur / len(attempts) if attempts else 0.0
    repeat_eur = (booked - delivered) * per_attempt
    return {
        "parcels": booked,
        "delivered": delivered,
        "delivered_trunk": outcomes.get(("delivered", "delivered_trunk"), 0),
        "delivered_home": outcomes.get(("delivered", "delivered_home"), 0),
        "returned_to_sender": sum(
            n for (status, _), n in outcomes.items() if status == "returned_to_sender"
        ),
        "not_reached": not_reached,
        "first_attempt_success": round(first_ok / booked, 4) if booked else 0.0,
        "failed_attempts": sum(failed_by_reason.values()) - not_reached,
        "failed_by_reason": dict(sorted(failed_by_reason.items())),
        "km": round(km, 1),
        # Per parcel delivered: a parcel not delivered today costs another trip tomorrow.
        "km_per_parcel": round(km / delivered, 3) if delivered else None,
        "vans": len(record.drivers),
        "van_hours": round(van_hours, 1),
        "waiting_hours": round(sum(d.waiting_s for d in record.drivers) / 3600, 1),
        "van_hours_per_parcel": round(van_hours / delivered, 4) if delivered else None,
        "cost_eur": round(day_eur, 2),
        "repeat_attempts_eur": round(repeat_eur, 2),
        "cost_per_parcel": round((day_eur + repeat_eur) / booked, 3) if booked else None,
        "co2_kg": round(km * costs.co2_kg_per_km, 1),
        "co2_kg_per_parcel": round(km * costs.co2_kg_per_km / delivered, 4) if delivered else None,
        "grants_issued": sum(grants.values()),
        "grants_redeemed": grants.get("redeemed", 0),
        "grants_expired": grants.get("expired", 0),
        "grants_revoked": grants.get("revoked", 0),
        "access_refused": refused,
        "unlock_to_lock_s_median": round(statistics.median(unlock_to_lock), 1)
        if unlock_to_lock
        else None,
        "unlock_to_lock_s_p95": round(unlock_to_lock[int(0.95 * (len(unlock_to_lock) - 1))], 1)
        if unlock_to_lock
        else None,
        "incidents": session.scalar(select(func.count()).select_from(Incident)) or 0,
        "collections": collections,
        "returns_collected": pickups.get(("return", "collected"), 0),
        "sends_collected": pickups.get(("send", "collected"), 0),
        "collection_first_attempt_success": round(collected_first / collections, 4)
        if collections
        else None,
        # Parcels nobody could take that went to a pickup point instead of back.
        "pickup_points_used": session.scalar(select(func.count()).select_from(HeldParcel)) or 0,
        "door_pickups": sum(
            1
            for d in session.scalars(select(Delivery.mode).where(Delivery.purpose != "delivery"))
            if d == "home"
        ),
        "unplanned": record.unplanned,
        "unplanned_by_reason": dict(sorted(record.unplanned_by_reason.items())),
    }


def hourly_deliveries(session: Session, tz: str) -> dict[int, int]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    counts: Counter[int] = Counter()
    for a in session.scalars(select(Attempt).where(Attempt.status == "succeeded")):
        if a.ended_at is not None:
            counts[a.ended_at.astimezone(zone).hour] += 1
    return dict(sorted(counts.items()))


def van_table(session: Session, record: DayRecord) -> list[dict[str, Any]]:
    """One row per van: stops attempted, km, hours (start to back at the depot), waiting."""
    from trunkdrop.dispatch import service as dispatch

    rows = []
    for number, driver in enumerate(record.drivers, start=1):
        stops = dispatch.stops_of(session=session, route_id=driver.route_id)
        hours = (
            ((driver.ended_s or 0) - driver.started_s) / 3600
            if driver.started_s is not None
            else 0.0
        )
        rows.append(
            {
                "van": number,
                "stops": sum(1 for stop in stops if stop.status in ("done", "failed")),
                "delivered": sum(1 for stop in stops if stop.status == "done"),
                "km": round(driver.km, 1),
                "hours": round(hours, 2),
                "waiting_hours": round(driver.waiting_s / 3600, 2),
            }
        )
    return rows
