"""The edge commits a write before it answers: a client that got 201 can rely on it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from tests.support import OFFICE, World
from trunkdrop.api.app import create_app
from trunkdrop.places.models import Place
from trunkdrop.store.engine import read_only_session


def test_a_write_is_committed_before_its_response_starts(world: World) -> None:
    """When the 201 of POST /v1/places starts to leave the server, another connection
    already reads the new place (FastAPI's default would commit only after sending)."""
    app = create_app(world.platform, run_workers=False)
    body = json.dumps(
        {"label": "gym", "latitude": OFFICE[0], "longitude": OFFICE[1], "address": "x 1"}
    ).encode()
    auth = world.auth("anna")["Authorization"].encode()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/places",
        "raw_path": b"/v1/places",
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
                places = session.scalar(select(func.count()).select_from(Place)) or 0
            seen_at_start.append((message["status"], places))

    asyncio.run(app(scope, receive, send))
    assert seen_at_start == [(201, 1)]
