"""The event feed: each party reads its own deliveries' events in order, page by page."""

from __future__ import annotations

from typing import Any

from tests.support import World


def _all(world: World, who: str, limit: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    for _ in range(100):
        page = world.ok(world.get(who, "/v1/events", params={"after": after, "limit": limit}))
        events += page["data"]
        if not page["has_more"]:
            assert page["next_cursor"] == (events[-1]["cursor"] if events else after)
            return events
        after = page["next_cursor"]
    raise AssertionError("the feed never ended")


def test_a_booking_and_its_cancellation_are_in_the_shop_and_carrier_feed(world: World) -> None:
    """Booked then cancelled: both events, in that order, for the shop, the carrier and the customer."""
    vehicle = world.link_car()
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.ok(world.post("shop", f"/v1/deliveries/{delivery['id']}/cancel"))
    for who in ("shop", "carrier", "anna"):
        events = _all(world, who, 100)
        assert [(e["type"], e["delivery_id"]) for e in events] == [
            ("delivery.booked", delivery["id"]),
            ("delivery.cancelled", delivery["id"]),
        ], who
        assert events[0]["cursor"] < events[1]["cursor"]
        assert events[0]["id"].startswith("evt_")


def test_a_party_never_reads_another_partys_events(world: World) -> None:
    """The other shop, the other carrier and a driver read nothing of the shop's bookings; the operator reads all."""
    vehicle = world.link_car()
    office = world.add_place()
    mine = [world.book(vehicle, [(office, 10, 12)]) for _ in range(2)]
    ben_car = world.link_car("ben")
    ben_office = world.add_place("ben")
    theirs = world.book(ben_car, [(ben_office, 10, 12)], who="ben", shop="other-shop")
    assert {e["delivery_id"] for e in _all(world, "shop", 100)} == {d["id"] for d in mine}
    assert {e["delivery_id"] for e in _all(world, "other-shop", 100)} == {theirs["id"]}
    assert _all(world, "other-carrier", 100) == []
    assert _all(world, "driver", 100) == []
    assert {e["delivery_id"] for e in _all(world, "operator", 100)} == {
        *(d["id"] for d in mine),
        theirs["id"],
    }


def test_pages_follow_each_other_without_gaps_or_repeats(world: World) -> None:
    """Seven bookings read two at a time: the same seven events, once each, in cursor order."""
    vehicle = world.link_car()
    office = world.add_place()
    booked = [world.book(vehicle, [(office, 10, 12)])["id"] for _ in range(7)]
    first = world.ok(world.get("shop", "/v1/events", params={"limit": 2}))
    assert len(first["data"]) == 2
    assert first["has_more"] is True
    paged = _all(world, "shop", 2)
    assert [e["delivery_id"] for e in paged] == booked
    cursors = [e["cursor"] for e in paged]
    assert cursors == sorted(set(cursors))
    last = world.ok(world.get("shop", "/v1/events", params={"after": cursors[-1]}))
    assert last == {"data": [], "next_cursor": cursors[-1], "has_more": False}


def test_a_limit_outside_its_bounds_is_refused_with_a_problem(world: World) -> None:
    """limit=0 and limit=501 are refused as problems naming the field, not cut silently."""
    for limit in (0, 501):
        response = world.get("shop", "/v1/events", params={"limit": limit})
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == "limit"


def test_an_incident_reaches_the_delivery_shop_and_carrier(world: World) -> None:
    """A trunk left open: incident.opened and incident.resolved reach the shop and the carrier, not the other shop."""
    _vehicle, _delivery, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (48.1403, 11.5600)), 202)
    world.tick(20)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    world.tick(6 * 60, step=10)
    for who in ("shop", "carrier"):
        types = [e["type"] for e in _all(world, who, 500)]
        assert types.index("incident.opened") < types.index("incident.resolved"), who
    assert [e["type"] for e in _all(world, "other-shop", 500)] == []
