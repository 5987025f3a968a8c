"""The FastAPI application: every domain's router under /v1, problem+json errors, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
from fastapi import FastAPI

from trunkdrop import __version__
from trunkdrop.access.views import router as audit_router
from trunkdrop.api import openapi, problems
from trunkdrop.api.auth import KeyCache
from trunkdrop.api.request_guard import RequestGuard
from trunkdrop.bootstrap import Platform
from trunkdrop.checkout.views import WidgetCors
from trunkdrop.checkout.views import router as checkout_router
from trunkdrop.consents.views import oauth_router
from trunkdrop.consents.views import router as consents_router
from trunkdrop.deliveries.views import router as deliveries_router
from trunkdrop.devices.views import router as devices_router
from trunkdrop.dispatch.views import router as dispatch_router
from trunkdrop.events.views import router as events_router
from trunkdrop.incidents.views import router as incidents_router
from trunkdrop.operations import wakeups
from trunkdrop.operations.logs import RequestContext
from trunkdrop.operations.views import router as operations_router
from trunkdrop.parties.views import router as parties_router
from trunkdrop.pickup_points.views import router as pickup_points_router
from trunkdrop.places.views import router as places_router
from trunkdrop.privacy.views import router as privacy_router
from trunkdrop.proofs.views import router as proofs_router
from trunkdrop.returns.views import router as returns_router
from trunkdrop.sends.views import router as sends_router
from trunkdrop.vehicles.adapters.simulator.views import router as sim_router
from trunkdrop.vehicles.views import router as vehicles_router
from trunkdrop.web import views as web
from trunkdrop.webhooks.views import router as webhooks_router
from trunkdrop.workers import PlannerThread, RelayThread, WorkerThread


def create_app(platform: Platform, *, run_workers: bool | None = None) -> FastAPI:
    run_workers = platform.settings.workers_inline if run_workers is None else run_workers

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await _build_routes(app)
        worker = WorkerThread(platform) if run_workers else None
        unwake = wakeups.on_commands(worker.wake) if worker is not None else None
        planner = PlannerThread(platform) if run_workers and platform.settings.auto_replan else None
        relay = RelayThread(platform) if run_workers else None
        app.state.workers = worker
        for thread in (worker, planner, relay):
            if thread is not None:
                thread.start()
        try:
            yield
        finally:
            for thread in (relay, planner, worker):
                if thread is not None:
                    thread.stop()
            if unwake is not None:
                unwake()

    app = FastAPI(
        title="trunkdrop",
        version=__version__,
        description="In-car delivery: open only the trunk, once, in its window, at its car.",
        lifespan=lifespan,
        # Served from vendored assets by `web` (FastAPI's own pages need a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.keys = KeyCache()
    # The driver's hot path runs on pools of its own (api.deps.UnitOfWork).
    app.state.db_read_threads = anyio.CapacityLimiter(platform.settings.api_db_threads)
    app.state.db_write_threads = anyio.CapacityLimiter(platform.settings.api_db_threads)
    app.state.workers = None
    problems.install(app)
    app.add_middleware(RequestGuard, photo_max_bytes=platform.settings.proof_photo_max_bytes)
    app.add_middleware(RequestContext)
    app.add_middleware(WidgetCors)
    # A request is matched against the routers in this order, one route after another:
    # the driver's hot path (seven requests a delivery) first. No two routers share a path.
    for router in (
        deliveries_router,
        dispatch_router,
        sim_router,
        devices_router,
        parties_router,
        vehicles_router,
        places_router,
        incidents_router,
        audit_router,
        events_router,
        webhooks_router,
        returns_router,
        sends_router,
        pickup_points_router,
        proofs_router,
        consents_router,
        checkout_router,
        privacy_router,
    ):
        app.include_router(router, prefix="/v1")
    app.include_router(oauth_router)  # RFC 6749 endpoints: not part of the versioned API

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Whether the process answers."""
        return {"status": "ok"}

    app.include_router(operations_router)
    openapi.install(app)
    web.install(app, platform)

    return app


async def _build_routes(app: FastAPI) -> None:
    """Route one request that matches nothing, straight to the router (no log, no metric).

    FastAPI (0.16x) builds the routes of each included router on the first request that
    passes it: their dependencies solved into models, pydantic validators and serializers
    built — about 0.1 s of CPU per process that otherwise falls on the first deliveries,
    which wait for it. Routing a path that no route holds passes every router once."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/\x00",
        "raw_path": b"/%00",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("127.0.0.1", 0),
        "client": None,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: MutableMapping[str, Any]) -> None:
        return None

    await app.router(scope, receive, send)


def create_app_from_env() -> FastAPI:
    """One of `trunkdrop serve --processes N`'s API processes (uvicorn's factory): the
    settings from the environment, the database already migrated by `serve`, listening
    for the other processes' wake-ups (PostgreSQL)."""
    import os

    from trunkdrop.bootstrap import bootstrap
    from trunkdrop.config import Settings
    from trunkdrop.operations import logs

    settings = Settings()
    logs.configure(json=settings.log_format == "json")  # uvicorn started this process afresh
    processes = int(os.environ.get("TRUNKDROP_SERVE_PROCESSES", "1"))
    role: Literal["all", "api", "worker"] = "all"
    if not settings.workers_inline:
        role = "api"
    elif processes > 1:
        role = "worker"  # each API process runs workers too: they share the cars' reports
    platform = bootstrap(settings, migrate=False, role=role)
    app = create_app(platform)
    wakeups.on_rotation(platform.keyrings.forget)
    listener = wakeups.listen(platform.engine, settings.resolved_database_url)
    app.state.wakeups = listener
    return app
