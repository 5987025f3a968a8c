"""Every list endpoint pages: `limit` and `cursor` in, `data`, `has_more`, `next_cursor` out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import World


def _walk(world: World, who: str, path: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a list, read `limit` at a time by following the cursors."""
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(50):  # bounded: a list of a few items never needs more pages
        page = world.ok(world.get(who, path, params=params))
        assert len(page["data"]) <= limit
        seen += page["data"]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return seen
        assert page["data"], "a page that says more follow shows something"
        params = {"limit": limit, "cursor": page["next_cursor"]}
    raise AssertionError(f"{path} never ended")


def _paged_equals_whole(world: World, who: str, path: str, at_least: int) -> None:
    whole = world.ok(world.get(who, path, params={"limit": 500}))
    assert whole["has_more"] is False
    assert len(whole["data"]) >= at_least, f"{path}: the test needs {at_least} items"
    paged = _walk(world, who, path, limit=1)
    assert paged == whole["data"]
    assert world.ok(world.get(who, path, params={"limit": 1}))["has_more"] is True


@pytest.fixture
def busy(world: World) -> World:
    """A world with several of everything that can be listed."""
    world.platform.settings.webhooks_allow_private = True
    cars = [world.link_car() for _ in range(3)]
    places = [world.add_place(label=f"place {i}") for i in range(3)]
    deliveries = [
        world.book(car, [(place, 10, 12)]) for car, place in zip(cars, places, strict=True)
    ]
    world.route(deliveries[0], deliveries[2], driver="driver", start=False)
    world.route(deliveries[1], driver="driver2", start=False)
    world.register_handset("driver")
    for n in range(2):
        world.ok(
            world.post(
                "other-carrier",
                "/v1/service-areas",
                {
                    "name": f"Area {n}",
                    "latitude": 48.37,
                    "longitude": 10.89,
                    "radius_m": 5_000,
                    "depot_latitude": 48.37,
                    "depot_longitude": 10.89,
                },
            ),
            201,
        )
    for n in range(3):
        world.ok(
            world.post(
                "shop",
                "/v1/webhook-endpoints",
                {"url": f"http://127.0.0.1:9/hook/{n}", "events": ["delivery.delivered"]},
            ),
            201,
        )
    return world


@pytest.mark.parametrize(
    ("who", "path", "at_least"),
    [
        ("anna", "/v1/places", 3),
        ("anna", "/v1/vehicles", 3),
        ("shop", "/v1/deliveries", 3),
        ("anna", "/v1/deliveries", 3),
        ("carrier", "/v1/devices", 3),
        ("operator", "/v1/service-areas", 3),
        ("carrier", "/v1/routes", 2),
        ("carrier", "/v1/stops", 3),
        ("shop", "/v1/webhook-endpoints", 3),
        ("anna", "/v1/brands", 2),
    ],
)
def test_every_list_pages_through_all_its_items_once(
    busy: World, who: str, path: str, at_least: int
) -> None:
    """Reading a list one item a page yields exactly the whole list, in its order, then stops."""
    _paged_equals_whole(busy, who, path, at_least)


def test_incidents_page_and_an_empty_list_says_nothing_follows(world: World) -> None:
    """An empty list is an empty page with has_more false and no cursor."""
    page = world.ok(world.get("operator", "/v1/incidents", params={"limit": 1}))
    assert page == {"data": [], "has_more": False, "next_cursor": None}


def test_deliveries_are_not_cut_at_the_old_limit_of_500(world: World) -> None:
    """A page never holds more than the limit, and the rest is reachable (the old list stopped at 500 silently)."""
    car, place = world.link_car(), world.add_place()
    booked = {world.book(car, [(place, 10, 12)])["id"] for _ in range(7)}
    seen = [d["id"] for d in _walk(world, "shop", "/v1/deliveries", limit=3)]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == booked


def test_a_page_does_not_skip_an_item_added_while_paging(world: World) -> None:
    """A cursor is a place in the order, not an offset: an item added meanwhile neither shifts nor repeats the rest."""
    for i in range(3):
        world.add_place(label=f"p{i}")
        world.clock.advance(1)
    first = world.ok(world.get("anna", "/v1/places", params={"limit": 2}))
    world.add_place(label="late")
    rest = _walk_from(world, "anna", "/v1/places", first["next_cursor"])
    labels = [p["label"] for p in first["data"] + rest]
    assert labels == ["p0", "p1", "p2", "late"]


def _walk_from(world: World, who: str, path: str, cursor: str) -> list[dict[str, Any]]:
    page = world.ok(world.get(who, path, params={"limit": 500, "cursor": cursor}))
    assert page["has_more"] is False
    return list(page["data"])


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "W1sidiIsIDFdXQ"},  # a real encoding of a key of the wrong width
        {"limit": 0},
        {"limit": 501},
    ],
)
def test_a_bad_cursor_or_limit_is_a_422_naming_it(world: World, params: dict[str, Any]) -> None:
    """A cursor no list gave, or a limit outside 1..500, is refused as problem+json naming the parameter."""
    response = world.get("anna", "/v1/places", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == next(iter(params))
