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
_KEPT = 1024


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


def _given_id(scope: dict[str, Any]) -> str:
    """The caller's X-Request-Id (the last one, when given twice), or ""."""
    given = b""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            given = value
    text: str = given.decode("latin-1")
    return text


class RequestContext:
    """ASGI middleware: a request id per request (the caller's X-Request-Id when it is a
    plain id, else a new one, echoed back), and the request counted and timed by route."""

    def __init__(self, app: Any) -> None:
        self.app = app
        # The series' children by their labels: `labels()` checks and locks on every call,
        # and there are only so many routes, methods and status classes (the method is the
        # caller's to choose: past _KEPT children, they are looked up each time).
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _given_id(scope)
        request_id = given if given and _CLEAN_ID.match(given) else uuid.uuid4().hex
        token, party = REQUEST_ID.set(request_id), PARTY_ID.set(None)
        started, status = time.perf_counter(), 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            klass = status // 100
            counted = self._counted.get((path, method, klass))
            if counted is None:
                counted = REQUESTS.labels(path, method, f"{klass}xx")
                if len(self._counted) < _KEPT:
                    self._counted[path, method, klass] = counted
            timed = self._timed.get((path, method))
            if timed is None:
                timed = LATENCY.labels(path, method)
                if len(self._timed) < _KEPT:
                    self._timed[path, method] = timed
            counted.inc()
            timed.observe(time.perf_counter() - started)
            REQUEST_ID.reset(token)
            PARTY_ID.reset(party)
