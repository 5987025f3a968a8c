"""The edge commits a write before it answers: a client that got 201 can rely on it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from tests.support import OFFICE, World
from trunkdrop.api.app import create_app
from trunkdrop.deliveries.models import Attempt
from trunkdrop.places.models import Place
from trunkdrop.store.base import Base
from trunkdrop.store.engine import read_only_session


def test_a_write_is_committed_before_its_response_starts(world: World) -> None:
    """When the 201 of POST /v1/places starts to leave the server, another connection
    already reads the new place (FastAPI's default would commit only after sending)."""
    body = {"label": "gym", "latitude": OFFICE[0], "longitude": OFFICE[1], "address": "x 1"}
    seen = _rows_when_the_response_starts(world, "anna", "/v1/places", body, Place)
    assert seen == [(201, 1)]


def test_a_hot_path_write_is_committed_before_its_response_starts(world: World) -> None:
    """The same for the driver's hot path (one hop per request, UnitOfWork): when the 201
    of a started attempt leaves, another connection reads the attempt."""
    vehicle = world.link_car()
    delivery = world.book(vehicle, [(world.add_place(), 10, 12)])
    world.route(delivery)
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    stop = world.next_stop()
    body = {
        "position": {"latitude": stop["latitude"] + 0.0001, "longitude": stop["longitude"]},
        "scanned_parcel_ref": stop["parcel_ref"],
    }
    path = f"/v1/stops/{stop['id']}/attempts"
    assert _rows_when_the_response_starts(world, "driver", path, body, Attempt) == [(201, 1)]


def _rows_when_the_response_starts(
    world: World, who: str, path: str, payload: dict[str, Any], model: type[Base]
) -> list[tuple[int, int]]:
    """POST through the raw ASGI app; when the response starts, count `model`'s rows on
    another connection."""
    app = create_app(world.platform, run_workers=False)
    body = json.dumps(payload).encode()
    auth = world.auth(who)["Authorization"].encode()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"authorization", auth)],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    delivered = False
    seen_at_start: list[tuple[int, int]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            with read_only_session(world.platform.session_factory) as session:
                rows = session.scalar(select(func.count()).select_from(model)) or 0
            seen_at_start.append((message["status"], rows))

    asyncio.run(app(scope, receive, send))
    return seen_at_start
