"""Shop: register an OAuth client. Customer: approve a shop, list and revoke consents.
The OAuth endpoints themselves (/oauth/authorize, /oauth/token) answer as RFC 6749 says."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Path, Request, status
from fastapi.responses import JSONResponse, Response

from trunkdrop.api.deps import (
    CommitInView,
    Customer,
    NowDep,
    Retailer,
    SessionDep,
    SettingsDep,
)
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.consents import service
from trunkdrop.consents.oauth import HttpRequest
from trunkdrop.consents.schemas import (
    AuthorizationRequestRead,
    ConsentPage,
    ConsentRead,
    OAuthClientCreate,
    OAuthClientIssued,
)

router = APIRouter(tags=["consents"], route_class=CommitInView)
oauth_router = APIRouter(tags=["oauth"], route_class=CommitInView)


@router.post("/oauth-clients", response_model=OAuthClientIssued, status_code=201)
def register_client(
    client_in: OAuthClientCreate,
    session: SessionDep,
    settings: SettingsDep,
    retailer: Retailer,
    now: NowDep,
    keyed: IdempotencyKey,
) -> OAuthClientIssued:
    """Register the shop's OAuth client: where customers return after approving. The
    secret is in this answer only (and in its replay to the same `Idempotency-Key`)."""

    def create() -> OAuthClientIssued:
        client, secret = service.register_client(
            session=session, retailer=retailer, client_in=client_in, now=now
        )
        return OAuthClientIssued(
            client_id=client.id,
            name=client.name,
            redirect_uris=client.redirect_uris,
            created_at=client.created_at,
            client_secret=secret,
        )

    return keyed.once(
        session=session,
        party=retailer,
        settings=settings,
        now=now,
        read=OAuthClientIssued,
        create=create,
    )


@router.get("/me/consents", response_model=ConsentPage)
def list_consents(session: SessionDep, customer: Customer, page: PageParams) -> ConsentPage:
    """The shops the caller gave consent to (revoked ones too), oldest first."""
    found = service.page_consents(
        session=session, customer_id=customer.id, cursor=page.cursor, limit=page.limit
    )
    names = service.client_names(session=session, client_ids={c.client_id for c in found.items})
    return page_read(
        ConsentPage,
        found,
        lambda c: ConsentRead.model_validate(c).model_copy(
            update={"client_name": names.get(c.client_id)}
        ),
    )


@router.delete("/me/consents/{consent_id}", response_model=ConsentRead)
def revoke_consent(
    consent_id: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    customer: Customer,
    now: NowDep,
) -> ConsentRead:
    """Revoke a consent at once: the shop's next call with it is refused."""
    return ConsentRead.model_validate(
        service.revoke(session=session, customer=customer, consent_id=consent_id, now=now)
    )


async def consent_token(
    token: Annotated[
        str | None,
        Header(
            alias=service.CONSENT_HEADER,
            max_length=200,
            description="The customer's consent token for this shop (from /oauth/token).",
        ),
    ] = None,
) -> str | None:
    return token


ConsentToken = Annotated[str | None, Depends(consent_token)]


async def http_request(request: Request) -> HttpRequest:
    """The request as Authlib reads it; the form read here, on the event loop."""
    form = await request.body() if request.method == "POST" else b""
    return HttpRequest(
        method=request.method,
        path=request.url.path,
        headers=request.headers,
        query=parse_qsl(request.url.query, keep_blank_values=True),
        form=parse_qsl(form.decode("utf-8", "replace"), keep_blank_values=True),
    )


OAuthRequest = Annotated[HttpRequest, Depends(http_request)]


def _answer(answer: service.OAuthAnswer) -> Response:
    status_code, body, headers = answer
    if isinstance(body, dict):
        return JSONResponse(body, status_code=status_code, headers=dict(headers))
    return Response(body or b"", status_code=status_code, headers=dict(headers))


@oauth_router.get("/oauth/authorize", response_model=AuthorizationRequestRead)
def authorization_request(
    http: OAuthRequest, session: SessionDep, customer: Customer, now: NowDep
) -> AuthorizationRequestRead | Response:
    """What a shop asks of the signed-in customer (`response_type=code`, `client_id`,
    `redirect_uri`, `scope`, `state`, `code_challenge`, `code_challenge_method=S256`)."""
    read = service.authorization_request(session=session, customer=customer, http=http, now=now)
    return read if isinstance(read, AuthorizationRequestRead) else _answer(read)


@oauth_router.post("/oauth/authorize", status_code=status.HTTP_302_FOUND)
def decide(http: OAuthRequest, session: SessionDep, customer: Customer, now: NowDep) -> Response:
    """The customer approves (form `decision=approve`) or denies: back to the shop with a code
    or `error=access_denied`."""
    approve = dict(http.form).get("decision") == "approve"
    return _answer(
        service.decide(session=session, customer=customer, http=http, approve=approve, now=now)
    )


@oauth_router.post("/oauth/token")
def token(http: OAuthRequest, session: SessionDep, now: NowDep) -> Response:
    """The shop's code and PKCE verifier for a consent token (form-encoded, the client
    authenticated by HTTP Basic or `client_id`/`client_secret`)."""
    return _answer(service.exchange(session=session, http=http, now=now))
