"""The simulated car maker's authorisation server: the page where an owner approves the
platform's access to a car, the code it redirects back with, and the exchange (PKCE).

It plays what a car maker's cloud does for brands with `consent_redirect`. Codes live in
memory, like the simulated cars: one use each, ten minutes at most (RFC 6749 4.1.2).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from trunkdrop.vehicles.ports import AdapterError

CODE_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class _Code:
    brand: str
    external_id: str
    scopes: tuple[str, ...]
    code_challenge: str
    redirect_uri: str
    expires_at: datetime


class SimulatedCarMaker:
    """Issues and redeems the simulated car makers' authorisation codes."""

    def __init__(self) -> None:
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    def approve(
        self,
        *,
        brand: str,
        external_id: str,
        scopes: tuple[str, ...],
        state: str,
        code_challenge: str,
        redirect_uri: str,
        now: datetime,
    ) -> str:
        """The owner approved: where the maker's page redirects the browser, with a code."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._forget_expired(now)
            self._codes[code] = _Code(
                brand=brand,
                external_id=external_id,
                scopes=scopes,
                code_challenge=code_challenge,
                redirect_uri=redirect_uri,
                expires_at=now + CODE_LIFETIME,
            )
        return _with_query(redirect_uri, {"code": code, "state": state})

    @staticmethod
    def deny(*, state: str, redirect_uri: str) -> str:
        """The owner said no: the redirect carries RFC 6749's `access_denied`."""
        return _with_query(redirect_uri, {"error": "access_denied", "state": state})

    def exchange(
        self,
        *,
        brand: str,
        external_id: str,
        code: str,
        code_verifier: str,
        redirect_uri: str,
        now: datetime,
    ) -> tuple[str, ...]:
        """The scopes the owner approved, once, for the client that proves the verifier."""
        with self._lock:
            found = self._codes.pop(code, None)  # one use, whatever the outcome
        if found is None or found.expires_at <= now:
            raise AdapterError("consent_code_invalid", "the car maker's code is unknown or used")
        if (found.brand, found.external_id, found.redirect_uri) != (
            brand,
            external_id,
            redirect_uri,
        ):
            raise AdapterError("consent_code_invalid", "the code was issued for another request")
        if not hmac.compare_digest(create_s256_code_challenge(code_verifier), found.code_challenge):
            raise AdapterError("consent_code_invalid", "the code verifier does not match (PKCE)")
        return found.scopes

    def _forget_expired(self, now: datetime) -> None:
        for code in [c for c, v in self._codes.items() if v.expires_at <= now]:
            del self._codes[code]


def _with_query(uri: str, params: dict[str, str]) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(params)}"
