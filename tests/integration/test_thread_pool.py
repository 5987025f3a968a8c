"""Writes never wait for a thread while they hold the database: with every thread of the
shared pool taken by requests waiting for SQLite's write lock, the holder still commits."""

from __future__ import annotations

import asyncio

import anyio.to_thread
from fastapi.testclient import TestClient

from tests.support import OFFICE, World, post_raw
from trunkdrop.api.app import create_app


def test_concurrent_writes_finish_when_they_outnumber_the_shared_pool(world: World) -> None:
    """Three new places at once on a shared pool of two threads all get 201: the one
    holding the write lock commits in its own view thread, not after waiting for one of
    the threads that wait for its lock (that cycle ended in 503s after 60 s)."""
    app = create_app(world.platform, run_workers=False)
    auth = world.auth("anna")["Authorization"].encode()
    world.get("anna", "/v1/places")  # the key is checked (and remembered) before the race
    statuses: list[int] = []

    def place(i: int) -> dict[str, object]:
        return {"label": f"p{i}", "latitude": OFFICE[0], "longitude": OFFICE[1], "address": "x"}

    async def race() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        # Hold the write lock (on SQLite) until all three have queued: two then wait for it
        # on the pool's two threads, the third waits for a thread.
        holder = world.platform.session_factory()
        holder.connection()
        requests = [
            asyncio.create_task(post_raw(app, "/v1/places", auth, place(i), statuses.append))
            for i in range(3)
        ]
        await asyncio.sleep(0.5)
        holder.commit()
        holder.close()
        await asyncio.gather(*requests)

    asyncio.run(race())
    assert statuses == [201, 201, 201]


def test_the_hot_path_runs_on_pools_of_the_configured_size(world: World) -> None:
    """`api_db_threads` sizes the hot path's two pools (reads, writes) of a new app."""
    _, _, stop = world.at_the_stop()
    world.platform.settings.api_db_threads = 3
    app = create_app(world.platform, run_workers=False)
    client = TestClient(app)
    assert client.get("/v1/stops/next", headers=world.auth("driver")).status_code == 200
    body = {
        "position": {"latitude": stop["latitude"], "longitude": stop["longitude"]},
        "scanned_parcel_ref": stop["parcel_ref"],
    }
    started = client.post(
        f"/v1/stops/{stop['id']}/attempts", json=body, headers=world.auth("driver")
    )
    assert started.status_code == 201
    pools = (app.state.db_read_threads, app.state.db_write_threads)
    assert [pool.total_tokens for pool in pools] == [3, 3]
