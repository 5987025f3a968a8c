"""Checks on a request before it is routed: how big its body is, and NUL characters.

A NUL character is refused everywhere (422, naming where it is): ids are looked up as given,
PostgreSQL can neither store nor compare a text holding one, and SQLite would keep it and
hand it on to a shop's webhook or a car owner's page. A body is read no further than its
limit (413): a client cannot make the server hold more than that in memory, whatever its
Content-Length says.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from trunkdrop.api.problems import problem

# A day's plan naming 5,000 deliveries is about 200 kB of JSON; nothing but a proof photo
# (its own, larger limit, `settings.proof_photo_max_bytes`) comes near a megabyte.
MAX_BODY_BYTES = 1024 * 1024

Scope = dict[str, Any]

# The one view that takes a bigger body (`proofs.views.take_photo`), streamed to it.
_PHOTO = re.compile(r"/v1/attempts/[^/]+/photo")
_FIELD_NAME = re.compile(r"[A-Za-z0-9_.\[\]-]{1,64}")


class RequestGuard:
    """Refuses, before routing: a NUL character in the path, the query or a JSON or form
    body (422 `invalid_input` naming the field), and a body over its limit (413
    `payload_too_large`). A body it lets through is handed on exactly as it came."""

    def __init__(self, app: Any, *, photo_max_bytes: int, max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.photo_max_bytes = photo_max_bytes
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await _refuse_nul("path", scope, receive, send)
            return
        field = _nul_in_form(scope.get("query_string", b""))
        if field is not None:
            await _refuse_nul(field, scope, receive, send)
            return
        if _nul_in_basic_credentials(_header(scope, b"authorization")):
            await _refuse_nul("authorization", scope, receive, send)
            return
        photo = scope["method"] == "POST" and _PHOTO.fullmatch(scope["path"]) is not None
        limit = self.photo_max_bytes if photo else self.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit, scope, receive, send)
            return
        if photo:
            # Image bytes, streamed to the view, which reads them no further than the limit.
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS") and not declared:
            await self.app(scope, receive, send)
            return
        body, whole = await _read_body(receive, limit)
        if body is None:
            await _too_large(limit, scope, receive, send)
            return
        if not whole:
            return  # the client went away mid-body: nobody to answer, nothing to act on
        field = _nul_in_body(_header(scope, b"content-type"), body)
        if field is not None:
            await _refuse_nul(field, scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1")).strip()
    return ""


async def _read_body(receive: Any, limit: int) -> tuple[bytes | None, bool]:
    """The body, or None once it passes `limit`; and whether it came whole (False: the
    client disconnected before its end)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Any) -> Any:
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Any:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


def _nul_in_body(content_type: str, body: bytes) -> str | None:
    """Where a NUL is in a body, or None. JSON is looked into whatever its encoding (UTF-16
    and UTF-32 are JSON too); any other body as a form (a view may read a form whatever its
    Content-Type says), and a raw NUL byte in it (a multipart form) is refused as such."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json") or not media:
        found = _nul_in_json_text(body)
        if found is not None or media:
            return found
    return _nul_in_form(body)


def _nul_in_json_text(body: bytes) -> str | None:
    try:
        text = body.decode(json.detect_encoding(body))
    except (UnicodeDecodeError, LookupError):
        return None  # not JSON: the view says so
    # JSON can only write a NUL as an escape (a raw one is not JSON: the view refuses it).
    if "\\u0000" not in text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return "body"  # not JSON the guard can read; it holds a NUL all the same
    found = _nul_in_json(value, "")
    return None if found is None else (found or "body")


def _nul_in_json(value: Any, where: str) -> str | None:
    """Where in `value` a NUL character is, in the edge's field notation (`stops[2].label`)."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if "\x00" in key:
                return inner
            found = _nul_in_json(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = _nul_in_json(item, f"{where}[{n}]")
            if found is not None:
                return found
    return None


def _nul_in_basic_credentials(authorization: str) -> bool:
    """A NUL in HTTP Basic credentials (an OAuth client's id and secret)."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        return b"\x00" in base64.b64decode(encoded.strip(), validate=False)
    except ValueError:
        return False  # not base64: the view refuses it


def _nul_in_form(encoded: bytes) -> str | None:
    if b"%00" not in encoded and b"\x00" not in encoded:
        return None
    for name, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            # Named only when it reads as a field's name (not a multipart part's headers).
            return name if _FIELD_NAME.fullmatch(name) else "body"
    return "body" if b"\x00" in encoded else None


async def _refuse_nul(field: str, scope: Scope, receive: Any, send: Any) -> None:
    response = problem(
        422, "invalid_input", "Invalid input", f"{field}: NUL characters are not allowed",
        field=field,
    )  # fmt: skip
    await response(scope, receive, send)


async def _too_large(limit: int, scope: Scope, receive: Any, send: Any) -> None:
    response = problem(
        413, "payload_too_large", "Payload too large",
        f"a request body may be at most {limit} bytes", field="body",
    )  # fmt: skip
    await response(scope, receive, send)
