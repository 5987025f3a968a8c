"""Structured logs: one JSON object per line with the request id and the calling party's id.

Never keys, tokens or positions: the messages of this code base name ids and codes only,
and SQL is logged without its values (store.engine).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from trunkdrop.operations.metrics import LATENCY, REQUESTS

REQUEST_ID: ContextVar[str | None] = ContextVar("trunkdrop_request_id", default=None)
PARTY_ID: ContextVar[str | None] = ContextVar("trunkdrop_party_id", default=None)
_CLEAN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.party_id = PARTY_ID.get()
        return True


def configure(level: str = "INFO", *, json: bool = True) -> None:
    """Log to stderr, one JSON object a line (or plain text), with request and party ids."""
    handler = logging.StreamHandler()
    handler.addFilter(_Context())
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(party_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestContext:
    """ASGI middleware: a request id per request (the caller's X-Request-Id when it is a
    plain id, else a new one, echoed back), and the request counted and timed by route."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _CLEAN_ID.match(given) else uuid.uuid4().hex
        token, party = REQUEST_ID.set(request_id), PARTY_ID.set(None)
        started, status = time.perf_counter(), 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            REQUESTS.labels(path, method, f"{status // 100}xx").inc()
            LATENCY.labels(path, method).observe(time.perf_counter() - started)
            REQUEST_ID.reset(token)
            PARTY_ID.reset(party)
