"""Recording an event writes exactly what its kind says, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from tests.support import World
from trunkdrop.access.models import AuditEntry
from trunkdrop.bootstrap import Platform
from trunkdrop.deliveries.models import TimelineEntry
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.notify.models import OutboxMessage

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _delivered(delivery_id: str) -> Event:
    return Event(
        kind="delivery.delivered",
        at=AT,
        subject=delivery_id,
        delivery_id=delivery_id,
        facts={"outcome": "delivered_trunk"},
        text="delivered, trunk locked at 10:00",
        parties=("ret_1", "car_1", "cus_1", "cus_1", None),
    )


def _booked(world: World) -> str:
    vehicle, office = world.link_car(), world.add_place()
    return str(world.book(vehicle, [(office, 9, 11)])["id"])


def test_delivered_event_writes_timeline_audit_and_one_message_per_party(world: World) -> None:
    """One `delivery.delivered` leaves a timeline line, an audit entry and a message to
    each distinct party, all saying the same thing."""
    delivery_id = _booked(world)
    with world.platform.uow() as s:
        events.record(session=s, event=_delivered(delivery_id))
    with world.platform.uow() as s:
        timeline = s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "delivered")).all()
        audited = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "delivery.delivered")
        ).all()
        messages = s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == "delivery.delivered")
            .order_by(OutboxMessage.id)
        ).all()
    assert [(t.delivery_id, t.text) for t in timeline] == [
        (delivery_id, "delivered, trunk locked at 10:00")
    ]
    assert [(a.subject, a.data) for a in audited] == [(delivery_id, {"outcome": "delivered_trunk"})]
    assert [m.recipient_id for m in messages] == ["ret_1", "car_1", "cus_1"]
    assert messages[0].payload == {
        "delivery_id": delivery_id,
        "outcome": "delivered_trunk",
        "message": "delivered, trunk locked at 10:00",
    }


def test_audit_only_event_writes_no_timeline_and_no_message(platform: Platform) -> None:
    """A grant's use is for the audit chain only: nobody's timeline, nobody's inbox."""
    with platform.uow() as s:
        events.record(
            session=s,
            event=Event(kind="grant.redeemed", at=AT, subject="gr_1", facts={"command": "cmd_1"}),
        )
    with platform.uow() as s:
        assert s.scalars(select(TimelineEntry)).all() == []
        assert s.scalars(select(OutboxMessage)).all() == []
        assert [a.action for a in s.scalars(select(AuditEntry))] == ["grant.redeemed"]


def test_rolled_back_change_leaves_no_record(world: World) -> None:
    """An event recorded in a transaction that fails is gone with the change it recorded."""
    delivery_id = _booked(world)
    try:
        with world.platform.uow() as s:
            events.record(session=s, event=_delivered(delivery_id))
            raise RuntimeError("the use case failed after recording")
    except RuntimeError:
        pass
    with world.platform.uow() as s:
        assert s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "delivered")).all() == []
        assert (
            s.scalars(select(AuditEntry).where(AuditEntry.action == "delivery.delivered")).all()
            == []
        )
        assert (
            s.scalars(
                select(OutboxMessage).where(OutboxMessage.topic == "delivery.delivered")
            ).all()
            == []
        )
