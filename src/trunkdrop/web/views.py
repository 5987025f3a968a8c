"""Routes for people rather than programs: `/` and `/app`, sign-in by e-mail link, the
party pages, and the API docs from local assets.

The pages draw themselves from the API (`/v1`, with the session cookie and the CSRF
header): no second logic. Here only what the API has no use for: signing in and out.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as Message_

from trunkdrop.api.deps import NowDep, PlatformDep, UnitDep
from trunkdrop.bootstrap import Platform
from trunkdrop.errors import Unauthenticated
from trunkdrop.notify.messages import Message
from trunkdrop.notify.ports import ChannelError, Recipient
from trunkdrop.parties.models import Party
from trunkdrop.store.engine import read_only_session
from trunkdrop.web import signin
from trunkdrop.web.pages import STATIC, templates

router = APIRouter(include_in_schema=False)
log = logging.getLogger("trunkdrop.web")

FORM_COOKIE = "td_form"  # the anti-forgery secret of forms shown before signing in
PAGES = ("customer", "driver", "carrier", "operator")


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    # Strict, not Lax: the pages can open a trunk, and no navigation from another site
    # (a link in a mail, a forged form) should arrive signed in. The price is one more
    # click after following an outside link to a page; sign-in links still work, because
    # they are confirmed with a form on our own page.
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=True, samesite="strict", path="/"
    )


def _form_secret(request: Request) -> str:
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)


def _page(request: Request, name: str, context: dict[str, Any], *, form_secret: str) -> Response:
    response = templates.TemplateResponse(request, name, {"csrf": form_secret, **context})
    _cookie(response, FORM_COOKIE, form_secret, 3_600)
    return response


def _check_form(request: Request, presented: str) -> None:
    expected = request.cookies.get(FORM_COOKIE)
    if not expected or not secrets.compare_digest(expected, presented):
        raise Unauthenticated("this form has expired: load the page again", code="csrf_failed")


def signed_in(platform: Platform, request: Request) -> tuple[Party, str] | None:
    """The party of the request's session cookie and the session id, if it is live."""
    session_id = request.cookies.get(signin.COOKIE)
    if not session_id:
        return None
    with read_only_session(platform.session_factory) as session:
        try:
            party = signin.party_of(session=session, session_id=session_id, now=platform.now())
        except Unauthenticated:
            return None
        session.expunge(party)
    return party, session_id


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/app", status_code=307)


@router.get("/app", response_class=HTMLResponse)
async def app_home(request: Request, platform: PlatformDep) -> Response:
    who = await anyio.to_thread.run_sync(signed_in, platform, request)
    if who is not None and who[0].role in PAGES:
        return RedirectResponse(f"/app/{who[0].role}", status_code=303)
    return templates.TemplateResponse(request, "home.html", {})


@router.get("/app/signin", response_class=HTMLResponse)
async def signin_form(request: Request) -> Response:
    return _page(request, "signin.html", {}, form_secret=_form_secret(request))


@router.post("/app/signin", response_class=HTMLResponse)
async def signin_request(
    request: Request,
    platform: PlatformDep,
    unit: UnitDep,
    now: NowDep,
    email: Annotated[str, Form(max_length=320)],
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    """Send a link to the address if a party has it; answer the same either way, so that
    the form does not tell who has an account."""
    _check_form(request, csrf)
    links = await unit(
        lambda session: signin.issue_links(
            session=session, email=email, now=now, settings=platform.settings
        )
    )
    base = (platform.settings.public_url or str(request.base_url)).rstrip("/")
    await anyio.to_thread.run_sync(_send_links, platform, links, base)
    return _page(request, "signin_sent.html", {"email": email}, form_secret=csrf)


def _send_links(platform: Platform, links: list[signin.LinkToSend], base: str) -> None:
    for link in links:
        url = f"{base}/app/signin/{link.token}"
        minutes = platform.settings.signin_link_lifetime_s // 60
        message = Message(
            subject="your sign-in link",
            body=(
                f"Sign in to trunkdrop as {link.name} ({link.role}):\n\n{url}\n\n"
                f"The link works once, for {minutes} minutes. If you did not ask for it, "
                "ignore this mail."
            ),
            language="en",
        )
        recipient = Recipient(link.party_id, link.email)
        channels = [c for c in platform.message_channels if c.reaches(recipient)]
        for channel in channels:
            try:
                channel.send(recipient, message)
            except ChannelError as e:
                log.warning("sign-in link for %s not sent: %s", link.party_id, e)
        if not channels and platform.settings.environment == "development":
            # No mail server on a development machine: the link goes to the server's log.
            log.warning("sign-in link for %s (%s): %s", link.name, link.role, url)


@router.get("/app/signin/{token}", response_class=HTMLResponse)
async def signin_confirm(request: Request, token: str) -> Response:
    """A page with one button: mail scanners that fetch links must not use them up."""
    return _page(
        request, "signin_confirm.html", {"token": token}, form_secret=_form_secret(request)
    )


@router.post("/app/signin/{token}")
async def signin_redeem(
    request: Request,
    token: str,
    platform: PlatformDep,
    unit: UnitDep,
    now: NowDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    _check_form(request, csrf)
    try:
        session_id = await unit(
            lambda session: signin.redeem_link(
                session=session, token=token, now=now, settings=platform.settings
            )
        )
    except Unauthenticated as e:
        return _page(request, "signin.html", {"error": e.detail}, form_secret=_form_secret(request))
    response = RedirectResponse("/app", status_code=303)
    _cookie(response, signin.COOKIE, session_id, platform.settings.session_lifetime_s)
    return response


@router.post("/app/signout")
async def signout(
    request: Request,
    unit: UnitDep,
    now: NowDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    session_id = request.cookies.get(signin.COOKIE)
    if session_id:
        if not signin.csrf_ok(session_id, csrf):
            raise Unauthenticated("this form has expired: load the page again", code="csrf_failed")
        await unit(
            lambda session: signin.end_session(session=session, session_id=session_id, now=now)
        )
    response = RedirectResponse("/app", status_code=303)
    response.delete_cookie(signin.COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


@router.get("/app/{page}", response_class=HTMLResponse)
async def party_page(request: Request, page: str, platform: PlatformDep) -> Response:
    """A party's page; signed out, the sign-in form; another party's page, their own."""
    if page not in PAGES:
        return templates.TemplateResponse(request, "home.html", {}, status_code=404)
    who = await anyio.to_thread.run_sync(signed_in, platform, request)
    if who is None:
        return RedirectResponse("/app/signin", status_code=303)
    party, session_id = who
    if party.role != page:
        return RedirectResponse(f"/app/{party.role}" if party.role in PAGES else "/app", 303)
    context = {
        "party": party,
        "csrf": signin.csrf_token(session_id),
        "tile_url": platform.settings.map_tile_url or "",
    }
    return templates.TemplateResponse(request, f"{page}.html", context)


WIDGET = STATIC / "widget" / "checkout.js"
WIDGET_HEADERS = {
    "cache-control": "public, max-age=600, must-revalidate",
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "cross-origin",
    # A shop may load it as a module script, which is fetched with CORS.
    "access-control-allow-origin": "*",
}


@functools.cache
def _widget() -> tuple[bytes, str]:
    body = WIDGET.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@router.get("/widget/checkout.js")
async def checkout_widget(request: Request) -> Response:
    """The checkout widget for shops' pages (another origin): a script any page may load.
    Cached for ten minutes, then revalidated by its ETag: a new version reaches every
    shop soon, without a version in its URL."""
    body, etag = _widget()
    headers = {**WIDGET_HEADERS, "etag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "docs.html", {})


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "redoc.html", {})


class ContentSecurityPolicy:
    """The pages run only scripts and styles served from here: no inline script, no other
    origin (a map tile server, when set, for images only). Plain ASGI, and a glance at the
    path only: the API's hot path and its event streams pass untouched."""

    def __init__(self, app: ASGIApp, tile_origin: str | None) -> None:
        self.app = app
        images = "'self' data:" + (f" {tile_origin}" if tile_origin else "")
        policy = (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src {images}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'"
        )
        self.headers = [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            # A person's page is theirs only while signed in: no copy kept for a reload or
            # the back button after signing out (or erasing the account).
            (b"cache-control", b"no-store"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/app" or path.startswith("/app/")):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message_) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_policy)


def _origin(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}".replace("{s}", "*")


def install(app: FastAPI, platform: Platform) -> None:
    """Mount the pages and their static files (the app must be made with `docs_url=None`,
    `redoc_url=None`: FastAPI's own pages load their scripts from a CDN)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(ContentSecurityPolicy, tile_origin=_origin(platform.settings.map_tile_url))
