"""Readiness and metrics for an operator's load balancer and Prometheus."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated

import anyio
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from trunkdrop.api.deps import bearer, current_party
from trunkdrop.bootstrap import Platform
from trunkdrop.migrate import alembic_config
from trunkdrop.operations import service as operations
from trunkdrop.operations.metrics import REGISTRY, DatabaseCollector
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Role

router = APIRouter(tags=["health"])


@router.get("/ready", include_in_schema=False)
async def ready(request: Request) -> JSONResponse:
    """Whether this process should get traffic: database reachable and migrated, broker
    connected (car link over MQTT), a worker seen recently (503 naming what is missing)."""
    platform: Platform = request.app.state.platform
    inline = getattr(request.app.state, "workers", None) is not None
    checks = await anyio.to_thread.run_sync(_checks, platform, inline)
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
    )


def _checks(platform: Platform, inline_workers: bool) -> dict[str, str]:
    checks: dict[str, str] = {}
    head = ScriptDirectory.from_config(
        alembic_config(platform.settings.resolved_database_url)
    ).get_heads()
    try:
        with platform.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
        checks["database"] = "ok" if set(current) == set(head) else "not migrated"
    except Exception as e:  # unreachable: named, never raised to the caller
        checks["database"] = f"unreachable: {type(e).__name__}"
    if platform.car_link is not None:
        checks["broker"] = "ok" if platform.car_link.connected else "not connected"
    if inline_workers:
        checks["workers"] = "ok"
    elif checks["database"] == "ok":
        limit = timedelta(seconds=platform.settings.worker_heartbeat_max_age_s)
        with platform.session_factory() as session:
            beat = operations.latest_beat(session=session)
        fresh = beat is not None and platform.clock.now() - beat <= limit
        checks["workers"] = "ok" if fresh else "no worker heartbeat"
    else:
        checks["workers"] = "unknown"
    return checks


async def _scraper(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """An operator's key, or (with `metrics_open_on_localhost`) no key from loopback."""
    platform: Platform = request.app.state.platform
    host = request.client.host if request.client else ""
    if platform.settings.metrics_open_on_localhost and _loopback(host):
        return
    party = await current_party(platform, request, credentials)
    parties.require_role(party, Role.operator)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get(
    "/metrics", dependencies=[Depends(_scraper)], response_class=Response, include_in_schema=False
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    body = await anyio.to_thread.run_sync(_exposition, request.app.state.platform)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _exposition(platform: Platform) -> bytes:
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(platform.session_factory))
    return generate_latest(REGISTRY) + generate_latest(database)
