"""Shop: make a checkout session. The checkout widget on the shop's page: read its options
with the session's token (the one cross-origin endpoint, see `WidgetCors`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as Message_

from trunkdrop.api.deps import CommitInView, NowDep, Retailer, SessionDep, SettingsDep
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.checkout import service
from trunkdrop.checkout.schemas import CheckoutSessionIssued, CheckoutSessionOptionsRead
from trunkdrop.consents import service as consents
from trunkdrop.consents.views import ConsentToken
from trunkdrop.deliveries.schemas import CheckoutRequest

router = APIRouter(tags=["checkout"], route_class=CommitInView)
WIDGET_PATH = "/v1/checkout-sessions/current/options"

session_token = HTTPBearer(
    auto_error=False,
    scheme_name="CheckoutSessionToken",
    description="A checkout session's token (`POST /v1/checkout-sessions`), not an API key.",
)
SessionToken = Annotated[HTTPAuthorizationCredentials | None, Depends(session_token)]


@router.post(
    "/checkout-sessions", response_model=CheckoutSessionIssued, status_code=status.HTTP_201_CREATED
)
def create_checkout_session(
    body: CheckoutRequest,
    session: SessionDep,
    settings: SettingsDep,
    retailer: Retailer,
    now: NowDep,
    keyed: IdempotencyKey,
    consent: ConsentToken,
) -> CheckoutSessionIssued:
    """A checkout session for the shop's checkout widget: the parcel and customer as for
    `/checkout/options`, with the customer's consent (`deliveries:book`). Its `token` (in
    this answer only, and its replay) lets the widget read the options for
    `checkout_session_lifetime_s` (15 minutes), until the shop books the parcel."""
    given = consents.require(
        session=session,
        retailer_id=retailer.id,
        customer_id=body.customer_id,
        token=consent,
        scope="deliveries:book",
    )
    return keyed.once(
        session=session,
        party=retailer,
        settings=settings,
        now=now,
        read=CheckoutSessionIssued,
        create=lambda: service.create(
            session=session,
            settings=settings,
            retailer=retailer,
            consent=given,
            request=body,
            now=now,
        ),
    )


@router.get("/checkout-sessions/current/options", response_model=CheckoutSessionOptionsRead)
def checkout_session_options(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    credentials: SessionToken,
) -> CheckoutSessionOptionsRead:
    """The windows and places for the session's parcel, or why none: what the checkout
    widget shows. Authenticated by the session's token alone (`Authorization: Bearer`);
    readable from the shop's own pages (its OAuth client's redirect origins)."""
    token = credentials.credentials if credentials is not None else None
    return service.options(
        session=session,
        settings=settings,
        token=token,
        origin=request.headers.get("origin"),
        now=now,
    )


class WidgetCors:
    """CORS for the widget's one endpoint, and nothing else of the API.

    Every origin may ask (preflight) and read the answer, without credentials: no cookie
    ever goes with it, and the answer carries data only when the token is good *and* the
    page's `Origin` is the shop's (checked in `service.options`). A refusal is readable
    too, so the widget can say why (expired, used). Plain ASGI, a glance at the path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None or scope.get("path") != WIDGET_PATH:
            await self.app(scope, receive, send)
            return
        allow = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *allow,
                        (b"access-control-allow-methods", b"GET"),
                        (b"access-control-allow-headers", b"authorization"),
                        (b"access-control-max-age", b"600"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message_) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *allow]}
            await send(message)

        await self.app(scope, receive, with_cors)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
