"""Pickup points over HTTP: a delivery nobody could take goes to the carrier's nearest point
with room, the customer alone gets the code, and collects with it; full and closed points
are passed over, wrong codes are counted and bounded, uncollected parcels go back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.support import HOME, OFFICE, World
from trunkdrop.access.models import AuditEntry
from trunkdrop.notify.models import OutboxMessage
from trunkdrop.pickup_points.domain import WEEKDAYS

DAILY = {day: [{"opens": "08:00", "closes": "20:00"}] for day in WEEKDAYS}


def _point(
    world: World,
    *,
    name: str = "Kiosk Schelling",
    capacity: int = 10,
    hours: dict[str, Any] | None = None,
    where: tuple[float, float] = (HOME[0] + 0.002, HOME[1]),
    carrier: str = "carrier",
) -> dict[str, Any]:
    body = {
        "name": name,
        "kind": "point",
        "address": f"{name}, Schellingstr. 20",
        "latitude": where[0],
        "longitude": where[1],
        "opening_hours": DAILY if hours is None else hours,
        "capacity": capacity,
    }
    return world.ok(world.post(carrier, "/v1/pickup-points", body), 201)  # type: ignore[no-any-return]


def _failed_deliveries(world: World, count: int = 1) -> list[dict[str, Any]]:
    """`count` deliveries into Anna's trunk without a door to fall back to, on one route;
    at each the driver finds the trunk full."""
    vehicle = world.link_car()
    office = world.add_place()
    booked = [world.book(vehicle, [(office, 10, 12)], fallback=False) for _ in range(count)]
    world.route(*booked)
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    for _ in booked:
        attempt = world.ok(world.start_attempt(world.next_stop()), 201)
        world.ok(
            world.post("driver", f"/v1/attempts/{attempt['id']}/fail", {"reason": "trunk_full"})
        )
    return [world.ok(world.get("anna", f"/v1/deliveries/{d['id']}")) for d in booked]


def _code_sent_to(world: World, who: str, delivery_id: str) -> str:
    with world.platform.uow() as s:
        payloads = s.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.recipient_id == world.ids[who],
                OutboxMessage.topic == "delivery.at_pickup_point",
                OutboxMessage.delivery_id == delivery_id,
            )
        ).all()
    assert len(payloads) <= 1, "the code is sent once"
    return str(payloads[0]["code"]) if payloads else ""


def _collect(world: World, point: dict[str, Any], parcel_ref: str, code: str) -> Any:
    return world.post(
        "carrier",
        f"/v1/pickup-points/{point['id']}/collections",
        {"parcel_ref": parcel_ref, "code": code},
    )


def test_a_failed_delivery_goes_to_the_nearest_point_and_is_collected_with_its_code(
    world: World,
) -> None:
    """With no door to go to, the parcel goes to the nearest open point with room (not the
    farther one), the stock goes up, the code reaches the customer only (not the shop's
    feed); a wrong code is refused 403 and counted; the right one collects it and the
    stock goes down."""
    far = _point(world, name="Far away", where=(HOME[0] + 0.05, HOME[1]))
    near = _point(world, name="Kiosk Schelling")
    (delivery,) = _failed_deliveries(world)
    assert (delivery["status"], delivery["outcome_reason"]) == ("at_pickup_point", "trunk_full")
    assert "at_pickup_point" in [t["kind"] for t in delivery["timeline"]]
    assert world.ok(world.get("carrier", f"/v1/pickup-points/{near['id']}"))["stock"] == 1
    assert world.ok(world.get("carrier", f"/v1/pickup-points/{far['id']}"))["stock"] == 0
    code = _code_sent_to(world, "anna", delivery["id"])
    assert len(code) == 8 and code.isdigit()
    assert _code_sent_to(world, "shop", delivery["id"]) == ""
    feed = world.ok(world.get("shop", "/v1/events"))["data"]
    held = [e for e in feed if e["type"] == "delivery.at_pickup_point"]
    assert held and held[0]["facts"]["pickup_point_id"] == near["id"]
    assert code not in str(feed), "the code must never reach the shop's events"

    wrong_code = "1" * 8 if code != "1" * 8 else "2" * 8
    wrong = _collect(world, near, delivery["parcel_ref"], wrong_code)
    assert wrong.status_code == 403
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert (wrong.json()["code"], wrong.json()["tries_left"]) == ("pickup_code_wrong", 4)
    again = _collect(world, near, delivery["parcel_ref"], wrong_code)
    assert again.json()["tries_left"] == 3, "a wrong try must be counted although refused"

    done = world.ok(_collect(world, near, delivery["parcel_ref"], code), 201)
    assert done["status"] == "collected_by_customer"
    read = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome"]) == ("collected_by_customer", "collected_pickup_point")
    assert world.ok(world.get("carrier", f"/v1/pickup-points/{near['id']}"))["stock"] == 0
    twice = _collect(world, near, delivery["parcel_ref"], code)
    assert (twice.status_code, twice.json()["code"]) == (404, "parcel_not_held")
    kinds = {e["type"] for e in world.ok(world.get("shop", "/v1/events"))["data"]}
    assert "delivery.collected_by_customer" in kinds
    with world.platform.uow() as s:
        refused = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "pickup_point.code_refused")
        ).all()
    assert len(refused) == 2
    assert world.ok(world.get("operator", "/v1/audit/verify"))["ok"] is True


def test_a_full_point_is_passed_over_and_then_the_parcel_goes_back(world: World) -> None:
    """A point with one place takes the first parcel; the second, with no other point with
    room, goes back to the sender."""
    point = _point(world, capacity=1)
    first, second = _failed_deliveries(world, count=2)
    assert first["status"] == "at_pickup_point"
    assert (second["status"], second["outcome_reason"]) == ("returned_to_sender", "trunk_full")
    assert world.ok(world.get("carrier", f"/v1/pickup-points/{point['id']}"))["stock"] == 1


def test_a_point_closed_today_is_not_chosen(world: World) -> None:
    """A point open only on another weekday cannot take today's parcel: back to the sender."""
    today = WEEKDAYS[world.at(10).weekday()]
    other = next(d for d in WEEKDAYS if d != today)
    point = _point(world, hours={other: [{"opens": "08:00", "closes": "20:00"}]})
    (delivery,) = _failed_deliveries(world)
    assert delivery["status"] == "returned_to_sender"
    assert world.ok(world.get("carrier", f"/v1/pickup-points/{point['id']}"))["stock"] == 0


def test_collection_at_a_closed_point_and_blocked_codes_are_refused(world: World) -> None:
    """After closing time the point refuses 409 pickup_point_closed; after five wrong codes
    even the right one is refused 409 pickup_code_blocked."""
    point = _point(world)
    (delivery,) = _failed_deliveries(world)
    code = _code_sent_to(world, "anna", delivery["id"])
    world.until(world.at(20, 30))
    closed = _collect(world, point, delivery["parcel_ref"], code)
    assert (closed.status_code, closed.json()["code"]) == (409, "pickup_point_closed")
    world.until(world.at(19, 0) + timedelta(days=1))
    wrong_code = "1" * 8 if code != "1" * 8 else "2" * 8
    for _ in range(5):
        assert _collect(world, point, delivery["parcel_ref"], wrong_code).status_code == 403
    blocked = _collect(world, point, delivery["parcel_ref"], code)
    assert (blocked.status_code, blocked.json()["code"]) == (409, "pickup_code_blocked")


def test_an_uncollected_parcel_goes_back_after_the_holding_days(world: World) -> None:
    """Past `pickup_point_hold_days` the sweep sends the parcel back to the sender and frees
    its place; the customer's code then no longer collects it."""
    point = _point(world)
    (delivery,) = _failed_deliveries(world)
    code = _code_sent_to(world, "anna", delivery["id"])
    days = world.platform.settings.pickup_point_hold_days
    world.until(world.at(10, 20) + timedelta(days=days))
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome_reason"]) == (
        "returned_to_sender",
        "not_collected_in_time",
    )
    assert world.ok(world.get("carrier", f"/v1/pickup-points/{point['id']}"))["stock"] == 0
    late = _collect(world, point, delivery["parcel_ref"], code)
    assert (late.status_code, late.json()["code"]) == (404, "parcel_not_held")


def test_only_the_points_carrier_sees_and_collects_at_it(world: World) -> None:
    """Another carrier gets 403 on the point and its collections; a shop cannot list points;
    bad opening hours are a 422 naming the field."""
    point = _point(world)
    assert world.get("other-carrier", f"/v1/pickup-points/{point['id']}").status_code == 403
    other = world.post(
        "other-carrier",
        f"/v1/pickup-points/{point['id']}/collections",
        {"parcel_ref": "PCL-1", "code": "12345678"},
    )
    assert other.status_code == 403
    assert world.get("shop", "/v1/pickup-points").status_code == 403
    assert [p["id"] for p in world.ok(world.get("carrier", "/v1/pickup-points"))["data"]] == [
        point["id"]
    ]
    bad = world.post(
        "carrier",
        "/v1/pickup-points",
        {
            "name": "x",
            "kind": "point",
            "address": "y",
            "latitude": 48.1,
            "longitude": 11.5,
            "opening_hours": {"mon": [{"opens": "20:00", "closes": "08:00"}]},
            "capacity": 3,
        },
    )
    assert bad.status_code == 422
    assert "opening_hours" in bad.text


def test_a_repeated_collection_with_its_key_answers_the_first_again(world: World) -> None:
    """The staff's app retries a collection (same Idempotency-Key): the same 201 answer,
    and the stock went down once."""
    point = _point(world)
    (delivery,) = _failed_deliveries(world)
    code = _code_sent_to(world, "anna", delivery["id"])
    headers = {**world.auth("carrier"), "Idempotency-Key": "collect-1"}
    body = {"parcel_ref": delivery["parcel_ref"], "code": code}
    path = f"/v1/pickup-points/{point['id']}/collections"
    first = world.ok(world.client.post(path, json=body, headers=headers), 201)
    again = world.ok(world.client.post(path, json=body, headers=headers), 201)
    assert first == again
    assert world.ok(world.get("carrier", f"/v1/pickup-points/{point['id']}"))["stock"] == 0
