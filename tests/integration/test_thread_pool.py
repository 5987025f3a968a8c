"""Writes never wait for a thread while they hold the database: with every thread of the
shared pool taken by requests waiting for SQLite's write lock, the holder still commits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio.to_thread

from tests.support import OFFICE, World
from trunkdrop.api.app import create_app


def _scope(path: str, auth: bytes) -> dict[str, Any]:
    return {
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


def test_concurrent_writes_finish_when_they_outnumber_the_shared_pool(world: World) -> None:
    """Three bookings of a place at once on a shared pool of two threads all get 201: the
    one holding the write lock commits in its own view thread, not after waiting for one
    of the threads that wait for its lock (that cycle ended in 503s after 60 s)."""
    app = create_app(world.platform, run_workers=False)
    auth = world.auth("anna")["Authorization"].encode()
    world.get("anna", "/v1/places")  # the key is checked (and remembered) before the race

    async def one(i: int) -> int:
        body = json.dumps(
            {"label": f"p{i}", "latitude": OFFICE[0], "longitude": OFFICE[1], "address": "x"}
        ).encode()
        sent = False
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}  # pragma: no cover

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(_scope("/v1/places", auth), receive, send)
        return statuses[0]

    async def race() -> list[int]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        # Hold the write lock (on SQLite) until all three have queued: two then wait for it
        # on the pool's two threads, the third waits for a thread.
        holder = world.platform.session_factory()
        holder.connection()
        requests = [asyncio.create_task(one(i)) for i in range(3)]
        await asyncio.sleep(0.5)
        holder.commit()
        holder.close()
        return list(await asyncio.gather(*requests))

    assert asyncio.run(race()) == [201, 201, 201]
