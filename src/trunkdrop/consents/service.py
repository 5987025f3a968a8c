"""Shops' OAuth clients and customers' consents: register, approve, check, list, revoke."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from authlib.oauth2 import OAuth2Error
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trunkdrop.consents.models import Consent, OAuthClient
from trunkdrop.consents.oauth import HttpRequest, Server, digest
from trunkdrop.consents.schemas import AuthorizationRequestRead, OAuthClientCreate
from trunkdrop.errors import Forbidden, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.base import new_id
from trunkdrop.store.pages import Order, Page, page_of

CONSENT_HEADER = "Trunkdrop-Consent"
OAuthAnswer = tuple[int, Any, list[tuple[str, str]]]


def register_client(
    *, session: Session, retailer: Party, client_in: OAuthClientCreate, now: datetime
) -> tuple[OAuthClient, str]:
    """A shop's new OAuth client and its secret (shown once)."""
    secret = "tds_" + secrets.token_urlsafe(32)
    client = OAuthClient(
        id=new_id("cli"),
        retailer_id=retailer.id,
        name=client_in.name,
        secret_hash=digest(secret),
        redirect_uris=[str(u) for u in client_in.redirect_uris],
        created_at=now,
    )
    session.add(client)
    session.flush()
    events.record(
        session=session,
        event=Event(
            kind="oauth_client.registered",
            at=now,
            subject=client.id,
            actor=retailer.id,
            facts={"redirect_uris": client.redirect_uris},
        ),
    )
    return client, secret


def authorization_request(
    *, session: Session, customer: Party, http: HttpRequest, now: datetime
) -> AuthorizationRequestRead | OAuthAnswer:
    """What the customer is asked to approve, or Authlib's error answer."""
    server = Server(session=session, now=now)
    try:
        grant = server.get_consent_grant(http, end_user=customer)
    except OAuth2Error as error:
        return server.handle_error_response(None, error)  # type: ignore[no-any-return]
    client = grant.request.client.row
    return AuthorizationRequestRead(
        client_id=client.id,
        client_name=client.name,
        retailer_id=client.retailer_id,
        scopes=grant.request.scope.split(),
        redirect_uri=grant.request.payload.redirect_uri or client.redirect_uris[0],
    )


def decide(
    *, session: Session, customer: Party, http: HttpRequest, approve: bool, now: datetime
) -> OAuthAnswer:
    """The customer's answer: a redirect to the shop with a code (or `access_denied`)."""
    server = Server(session=session, now=now)
    try:
        grant = server.get_consent_grant(http, end_user=customer)
    except OAuth2Error as error:
        return server.handle_error_response(None, error)  # type: ignore[no-any-return]
    return server.create_authorization_response(  # type: ignore[no-any-return]
        request=grant.request, grant_user=customer if approve else None, grant=grant
    )


def exchange(*, session: Session, http: HttpRequest, now: datetime) -> OAuthAnswer:
    """The token endpoint: code and verifier in, a consent token out."""
    return Server(session=session, now=now).create_token_response(http)  # type: ignore[no-any-return]


def require(
    *, session: Session, retailer_id: str, customer_id: str, token: str | None, scope: str
) -> Consent:
    """The customer's live consent to this shop for `scope`, or 403 `consent_missing`
    (404 for an id that is no customer's: there is nobody to ask)."""
    customer = session.get(Party, customer_id)
    if customer is None or customer.role != Role.customer:
        raise NotFound(f"no customer with id {customer_id!r}", field="customer_id")
    consent = (
        session.scalars(select(Consent).where(Consent.token_hash == digest(token[:200]))).first()
        if token
        else None
    )
    if (
        consent is None
        or consent.revoked_at is not None
        or consent.retailer_id != retailer_id
        or consent.customer_id != customer_id
        or scope not in consent.scopes
    ):
        raise Forbidden(
            f"the customer has not given this shop consent for {scope!r}: send the consent "
            f"token from /oauth/token in the {CONSENT_HEADER} header",
            code="consent_missing",
            field=CONSENT_HEADER,
        )
    return consent


def _consents(customer_id: str) -> Select[Any]:
    return select(Consent).where(Consent.customer_id == customer_id)


def page_consents(
    *, session: Session, customer_id: str, cursor: str | None, limit: int
) -> Page[Consent]:
    """The customer's consents (revoked ones too), oldest first."""
    return page_of(
        session,
        _consents(customer_id),
        order=(Order(Consent.created_at), Order(Consent.id)),
        key=lambda c: (c.created_at, c.id),
        cursor=cursor,
        limit=limit,
    )


def client_names(*, session: Session, client_ids: set[str]) -> dict[str, str]:
    """The registered names of these OAuth clients, by id."""
    if not client_ids:
        return {}
    rows = session.execute(
        select(OAuthClient.id, OAuthClient.name).where(OAuthClient.id.in_(client_ids))
    )
    return {client_id: name for client_id, name in rows}


def list_consents(*, session: Session, customer_id: str) -> list[Consent]:
    return list(session.scalars(_consents(customer_id).order_by(Consent.created_at, Consent.id)))


def revoke(*, session: Session, customer: Party, consent_id: str, now: datetime) -> Consent:
    """Revoke one consent at once: the shop's next call with its token gets 403."""
    consent = session.get(Consent, consent_id)
    if consent is None or consent.customer_id != customer.id:
        raise NotFound(f"you have no consent with id {consent_id!r}", field="consent_id")
    _revoke(session=session, consent=consent, now=now)
    return consent


def revoke_all(*, session: Session, customer_id: str, now: datetime) -> int:
    """Every live consent of the customer (erasure)."""
    live = session.scalars(_consents(customer_id).where(Consent.revoked_at.is_(None))).all()
    for consent in live:
        _revoke(session=session, consent=consent, now=now)
    return len(live)


def _revoke(*, session: Session, consent: Consent, now: datetime) -> None:
    if consent.revoked_at is not None:
        return
    consent.revoked_at = now
    session.flush()
    events.record(
        session=session,
        event=Event(
            kind="consent.revoked",
            at=now,
            subject=consent.id,
            actor=consent.customer_id,
            facts={"retailer_id": consent.retailer_id},
        ),
    )
