"""Idempotency-Key on the creating POSTs: one key, one request, one answer, for a day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import func, select

from tests.support import OFFICE, Handset, World
from trunkdrop import workers
from trunkdrop.idempotency.models import IdempotentRequest


def _post(world: World, who: str, path: str, body: Any, key: str) -> Response:
    customer = body.get("customer_id") if isinstance(body, dict) else None
    headers = {**world.auth(who, customer), "Idempotency-Key": key}
    return world.client.post(path, json=body, headers=headers)


def _vehicle(n: int) -> dict[str, Any]:
    return {
        "brand": "sim-aurora",
        "external_id": f"VINIDEM{n:010d}",
        "make": "Aurora",
        "model": "Estate",
        "year": 2023,
        "plate": f"M-ID {n}",
        "colour": "red",
        "trunk_volume_l": 450,
    }


def _place(label: str) -> dict[str, Any]:
    return {"label": label, "latitude": OFFICE[0], "longitude": OFFICE[1], "address": "x 1"}


def _delivery(world: World, label: str) -> dict[str, Any]:
    car, place = world.link_car(), world.add_place(label=label)
    return {
        "customer_id": world.ids["anna"],
        "vehicle_id": car["id"],
        "retailer_reference": f"ORD-{label}",
        "parcel": world.parcel(),
        "itinerary": [
            {
                "place_id": place["id"],
                "window_start": world.at(10).isoformat(),
                "window_end": world.at(12).isoformat(),
            }
        ],
    }


def _endpoint(world: World, n: str) -> dict[str, Any]:
    world.platform.settings.webhooks_allow_private = True
    return {"url": f"http://127.0.0.1:9/{n}", "events": ["delivery.delivered"]}


def _area(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "latitude": 48.37,
        "longitude": 10.89,
        "radius_m": 5_000,
        "depot_latitude": 48.37,
        "depot_longitude": 10.89,
    }


def _route(world: World, driver: str) -> dict[str, Any]:
    delivery = world.ok(world.post("shop", "/v1/deliveries", _delivery(world, driver)), 201)
    return {
        "driver_id": world.ids[driver],
        "service_date": world.at(0).date().isoformat(),
        "delivery_ids": [delivery["id"]],
    }


def _handset() -> dict[str, Any]:
    return {"public_key": Handset().public_key, "label": "spare"}


# (who, path, body for the first request, body for another request)
CREATES: dict[str, Callable[[World], tuple[str, str, Any, Any]]] = {
    "places": lambda w: ("anna", "/v1/places", _place("a"), _place("b")),
    "vehicles": lambda w: ("anna", "/v1/vehicles", _vehicle(1), _vehicle(2)),
    "deliveries": lambda w: ("shop", "/v1/deliveries", _delivery(w, "a"), _delivery(w, "b")),
    "webhook endpoints": lambda w: (
        "shop",
        "/v1/webhook-endpoints",
        _endpoint(w, "a"),
        _endpoint(w, "b"),
    ),
    "service areas": lambda w: ("carrier", "/v1/service-areas", _area("a"), _area("b")),
    "routes": lambda w: ("carrier", "/v1/routes", _route(w, "driver"), _route(w, "driver2")),
    "devices": lambda w: ("driver", "/v1/devices", _handset(), _handset()),
}


@pytest.mark.parametrize("what", sorted(CREATES))
def test_the_same_key_and_body_is_answered_once(world: World, what: str) -> None:
    """A retry with the same key and body gets the first answer, and nothing is created twice."""
    who, path, body, _ = CREATES[what](world)
    first = _post(world, who, path, body, "key-1")
    assert first.status_code == 201, first.text
    again = _post(world, who, path, body, "key-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    listed = world.ok(world.get(who, path if what != "deliveries" else "/v1/deliveries"))
    assert [x["id"] for x in listed["data"]].count(first.json()["id"]) == 1
    fresh = _post(world, who, path, body if what == "places" else CREATES[what](world)[3], "k2")
    assert fresh.status_code == 201
    assert fresh.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("what", sorted(CREATES))
def test_the_same_key_with_another_body_is_a_409_naming_it(world: World, what: str) -> None:
    """Reusing a key for a different request is refused with problem+json idempotency_key_reused."""
    who, path, body, other = CREATES[what](world)
    assert _post(world, who, path, body, "key-1").status_code == 201
    refused = _post(world, who, path, other, "key-1")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "idempotency_key_reused"
    assert problem["field"] == "Idempotency-Key"
    assert "key-1" in problem["detail"]


def test_keys_are_per_party(world: World) -> None:
    """Another party's use of the same key neither replays nor blocks this party's request."""
    anna = _post(world, "anna", "/v1/places", _place("a"), "shared")
    ben = _post(world, "ben", "/v1/places", _place("a"), "shared")
    assert anna.status_code == ben.status_code == 201
    assert anna.json()["id"] != ben.json()["id"]


def test_a_refused_create_does_not_use_up_its_key(world: World) -> None:
    """A request that fails (422) keeps nothing: the corrected request with the same key is created."""
    bad = _post(world, "anna", "/v1/places", {**_place("a"), "latitude": 123}, "k")
    assert bad.status_code == 422
    assert _post(world, "anna", "/v1/places", _place("a"), "k").status_code == 201


def test_the_same_json_in_another_spelling_counts_as_the_same_body(world: World) -> None:
    """Key order and spacing of the JSON do not make another request."""
    first = _post(world, "anna", "/v1/places", _place("a"), "k")
    reordered = dict(reversed(list(_place("a").items())))
    again = _post(world, "anna", "/v1/places", reordered, "k")
    assert again.status_code == 201
    assert again.json() == first.json()


def test_an_attempt_start_is_answered_once(world: World) -> None:
    """Starting an attempt twice with one key starts one attempt and answers the same id."""
    car, place = world.link_car(), world.add_place()
    world.park(car, OFFICE)
    delivery = world.book(car, [(place, 10, 12)])
    world.route(delivery)
    world.until(world.at(10, 5))
    stop = world.next_stop()
    body = {
        "position": {"latitude": stop["latitude"] + 0.0001, "longitude": stop["longitude"]},
        "scanned_parcel_ref": stop["parcel_ref"],
    }
    path = f"/v1/stops/{stop['id']}/attempts"
    first = _post(world, "driver", path, body, "attempt-1")
    assert first.status_code == 201, first.text
    again = _post(world, "driver", path, body, "attempt-1")
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]


def test_keys_are_forgotten_after_a_day(world: World) -> None:
    """The worker's pass sweeps keys older than 24 h; the key then makes a new create."""
    first = _post(world, "anna", "/v1/places", _place("a"), "k")
    world.clock.advance(int(timedelta(hours=23).total_seconds()))
    workers.run_once(world.platform, world.clock.now())
    assert _post(world, "anna", "/v1/places", _place("a"), "k").json() == first.json()
    world.clock.advance(int(timedelta(hours=2).total_seconds()))
    workers.run_once(world.platform, world.clock.now())
    with world.platform.uow() as session:
        assert session.scalar(select(func.count()).select_from(IdempotentRequest)) == 0
    later = _post(world, "anna", "/v1/places", _place("a"), "k")
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]


def test_a_key_longer_than_255_characters_is_a_422(world: World) -> None:
    """An over-long key is refused before anything is created."""
    response = _post(world, "anna", "/v1/places", _place("a"), "k" * 256)
    assert response.status_code == 422
    assert world.ok(world.get("anna", "/v1/places"))["data"] == []
