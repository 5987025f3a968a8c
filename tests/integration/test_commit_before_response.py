"""The edge commits a write before it answers: a client that got 201 can rely on it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from tests.support import OFFICE, World, post_raw
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
    _, _, stop = world.at_the_stop()
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
    seen: list[tuple[int, int]] = []

    def on_start(status: int) -> None:
        with read_only_session(world.platform.session_factory) as session:
            seen.append((status, session.scalar(select(func.count()).select_from(model)) or 0))

    auth = world.auth(who)["Authorization"].encode()
    asyncio.run(post_raw(app, path, auth, payload, on_start))
    return seen
