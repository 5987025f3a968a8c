"""The OAuth 2 authorisation server (authorisation code + PKCE), on Authlib.

Authlib does the protocol (parameter checks, PKCE, client authentication, RFC 6749 error
bodies); this module only tells it where clients, codes and consents live. A server is
made per request around that request's session and time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    OAuth2Payload,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from sqlalchemy import delete
from sqlalchemy.orm import Session

from trunkdrop.consents.models import AuthorizationCode, Consent, OAuthClient
from trunkdrop.consents.schemas import SCOPES
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party
from trunkdrop.store.base import new_id

CODE_LIFETIME = timedelta(minutes=10)  # RFC 6749 4.1.2: ten minutes at most
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def digest(secret: str) -> str:
    # The secrets are 256 random bits: a plain digest keeps them out of the database.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class HttpRequest:
    """What Authlib needs of an HTTP request, read by the view."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._lists: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._lists[key].append(value)
        self._data = {key: values[0] for key, values in self._lists.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._lists


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, http: HttpRequest) -> None:
        # TLS ends at the proxy in front of the platform; Authlib refuses plain-HTTP URIs.
        super().__init__(http.method, "https://trunkdrop" + http.path, headers=http.headers)
        self._args = dict(http.query)
        self._form = dict(http.form)
        self.payload = _Payload([*http.query, *http.form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.id

    def get_default_redirect_uri(self) -> str | None:
        # A client with several must name one: no silent choice of where codes go.
        return self.row.redirect_uris[0] if len(self.row.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        asked = (scope or "").split()
        if not asked or any(s not in SCOPES for s in asked):
            return None
        return " ".join(sorted(set(asked)))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(digest(client_secret), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class _Code(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    server: Server

    def validate_authorization_request(self) -> str:
        # PKCE for every client, confidential ones too (RFC 9700 2.1.1), and only S256.
        data = self.request.payload.data
        if data.get("code_challenge_method") != "S256" or not data.get("code_challenge"):
            raise InvalidRequestError(
                "a 'code_challenge' with 'code_challenge_method=S256' is required",
                state=self.request.payload.state,
            )
        redirect_uri: str = super().validate_authorization_request()
        return redirect_uri

    def save_authorization_code(self, code: str, request: _Request) -> None:
        now = self.server.now
        customer: Party = request.user
        self.server.session.add(
            AuthorizationCode(
                code_hash=digest(code),
                client_id=request.client.get_client_id(),
                customer_id=customer.id,
                redirect_uri=request.payload.redirect_uri or request.client.row.redirect_uris[0],
                scope=request.scope,
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data["code_challenge_method"],
                created_at=now,
                expires_at=now + CODE_LIFETIME,
            )
        )
        self.server.session.flush()

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        session, now = self.server.session, self.server.now
        row = session.get(AuthorizationCode, digest(code))
        if row is None or row.client_id != client.get_client_id() or row.expires_at <= now:
            return None
        # Claimed at once: a code is used once, also by two requests at the same moment
        # and also when this one then fails its PKCE check.
        claimed = session.execute(
            delete(AuthorizationCode).where(AuthorizationCode.code_hash == row.code_hash)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        return _Code(row)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        """Deleted when it was claimed (`query_authorization_code`)."""

    def authenticate_user(self, authorization_code: _Code) -> str:
        return authorization_code.row.customer_id


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, *, session: Session, now: datetime) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.session, self.now = session, now
        self.register_grant(_CodeGrant, [CodeChallenge(required=True)])
        self.register_token_generator("default", _consent_token)

    def query_client(self, client_id: str) -> _Client | None:
        row = self.session.get(OAuthClient, client_id[:32])
        return _Client(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        client: _Client = request.client
        consent = Consent(
            id=new_id("cns"),
            customer_id=request.user,
            retailer_id=client.row.retailer_id,
            client_id=client.row.id,
            scopes=token["scope"].split(),
            token_hash=digest(token["access_token"]),
            created_at=self.now,
        )
        self.session.add(consent)
        self.session.flush()
        token["consent_id"] = consent.id
        events.record(
            session=self.session,
            event=Event(
                kind="consent.given",
                at=self.now,
                subject=consent.id,
                actor=consent.customer_id,
                facts={"retailer_id": consent.retailer_id, "scopes": consent.scopes},
            ),
        )

    def create_oauth2_request(self, request: HttpRequest | _Request) -> _Request:
        return request if isinstance(request, _Request) else _Request(request)

    def create_json_request(self, request: HttpRequest) -> _Request:
        return _Request(request)

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No listeners: what happened is recorded as events."""


def _consent_token(
    grant_type: str,
    client: _Client,
    user: str | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    # No expiry and no refresh token: a consent lasts until the customer revokes it.
    return {
        "token_type": "Bearer",
        "access_token": "tdc_" + secrets.token_urlsafe(32),
        "scope": scope,
    }
