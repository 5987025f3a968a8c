"""A small typed client for the trunkdrop API (httpx), and a driver's `Handset` that signs
access requests the way `docs/api.md` ("The signed message") describes.

    from trunkdrop.client import Client, Handset
    driver = Client("http://127.0.0.1:8000", api_key)
    handset = Handset.generate()
    device = driver.register_handset(handset, label="phone")

Every call answers the JSON body as a dict (lists: the page's `data`); a refusal raises
`ApiError` with the problem's stable `code`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trunkdrop.access.tokens import TRUNK_UNLOCK, b64u, proof_message

JSON = dict[str, Any]
Position = tuple[float, float]


class ApiError(Exception):
    """A refusal from the API: its HTTP status and the problem's stable `code`."""

    def __init__(self, status: int, problem: JSON) -> None:
        self.status = status
        self.code: str = str(problem.get("code", "unknown"))
        self.detail: str = str(problem.get("detail", ""))
        self.problem = problem
        super().__init__(f"{status} {self.code}: {self.detail}")


@dataclass
class Handset:
    """A driver's phone key: Ed25519, made here and never sent; only its public half is."""

    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    device_id: str | None = None

    @classmethod
    def generate(cls) -> Self:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Self:
        """The handset whose private key is this 32-byte seed (for reproducible examples)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_key(self) -> str:
        """The raw 32-byte public key, base64url without padding, as `POST /v1/devices` takes it."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return b64u(raw)

    def sign(self, *, nonce: str, attempt_id: str, action: str = TRUNK_UNLOCK) -> str:
        """The proof for one challenge: Ed25519 over the length-prefixed message."""
        message = proof_message(nonce=nonce, action=action, attempt_id=attempt_id)
        return b64u(self.private_key.sign(message))


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Client:
    """One party's view of the API, authenticated by its API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        # The OAuth endpoints live beside the versioned API, not under it.
        self._root = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self._root + "/v1",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the wire -----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        consent: str | None = None,
        **params: Any,
    ) -> Any:
        """Send one request; a creating POST carries a fresh Idempotency-Key, so a retry
        of this same call (by httpx) cannot create twice. `consent`: a shop's consent token
        for the customer the request is about."""
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
        if consent is not None:
            headers["Trunkdrop-Consent"] = consent
        query = {k: v for k, v in params.items() if v is not None}
        response = self._http.request(method, path, json=body, params=query, headers=headers)
        return self._answer(response)

    @staticmethod
    def _answer(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"code": "unknown", "detail": response.text[:200]}
            raise ApiError(response.status_code, problem)
        return response.json() if response.content else None

    def _list(self, path: str, **params: Any) -> list[JSON]:
        items: list[JSON] = []
        cursor = None
        while True:
            page = self.request("GET", path, cursor=cursor, **params)
            items.extend(page["data"])
            if not page["has_more"]:
                return items
            cursor = page["next_cursor"]

    # -- everyone -----------------------------------------------------------------------
    def me(self) -> JSON:
        result: JSON = self.request("GET", "/me")
        return result

    def brands(self) -> list[JSON]:
        return self._list("/brands")

    def deliveries(self) -> list[JSON]:
        return self._list("/deliveries")

    def delivery(self, delivery_id: str) -> JSON:
        result: JSON = self.request("GET", f"/deliveries/{delivery_id}")
        return result

    # -- customers ----------------------------------------------------------------------
    def link_vehicle(self, **vehicle: Any) -> JSON:
        """`brand`, `external_id`, `make`, `model`, `year`, `plate`, `colour`, `trunk_volume_l`."""
        result: JSON = self.request("POST", "/vehicles", vehicle)
        return result

    def vehicles(self) -> list[JSON]:
        return self._list("/vehicles")

    def block(self, vehicle_id: str) -> JSON:
        result: JSON = self.request("POST", f"/vehicles/{vehicle_id}/block")
        return result

    def unblock(self, vehicle_id: str) -> JSON:
        result: JSON = self.request("POST", f"/vehicles/{vehicle_id}/unblock")
        return result

    def add_place(self, *, label: str, at: Position, address: str, **more: Any) -> JSON:
        body = {"label": label, "latitude": at[0], "longitude": at[1], "address": address}
        result: JSON = self.request("POST", "/places", {**body, **more})
        return result

    def places(self) -> list[JSON]:
        return self._list("/places")

    def approve_shop(
        self, *, client_id: str, redirect_uri: str, scope: str, code_challenge: str
    ) -> str:
        """The customer approves a shop's request (OAuth 2 authorisation code with PKCE,
        S256): the code trunkdrop sends back to the shop's redirect URI."""
        response = self._http.post(
            self._root + "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": secrets.token_urlsafe(16),
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            },
            data={"decision": "approve"},
            follow_redirects=False,
        )
        if response.status_code != 302:
            self._answer(response)
            raise ApiError(response.status_code, {"code": "unexpected", "detail": response.text})
        return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]

    # -- shops --------------------------------------------------------------------------
    def register_oauth_client(self, *, name: str, redirect_uris: list[str]) -> JSON:
        """The shop's OAuth client: `client_id` and `client_secret` (shown once)."""
        result: JSON = self.request(
            "POST", "/oauth-clients", {"name": name, "redirect_uris": redirect_uris}
        )
        return result

    def consent_token(
        self,
        *,
        client: JSON,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> str:
        """Exchange the customer's code for the consent token the shop sends with each
        request about that customer."""
        response = self._http.post(
            self._root + "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
            },
        )
        token: str = self._answer(response)["access_token"]
        return token

    def checkout_options(self, *, consent: str | None = None, **query: Any) -> JSON:
        result: JSON = self.request("POST", "/checkout/options", query, consent=consent)
        return result

    def create_checkout_session(self, *, consent: str, **query: Any) -> JSON:
        """A checkout session for the checkout widget (`customer_id`, `date`, `parcel` as
        for `checkout_options`): its `token` goes into the shop's page, nothing else does."""
        result: JSON = self.request("POST", "/checkout-sessions", query, consent=consent)
        return result

    def book(self, *, consent: str | None = None, **booking: Any) -> JSON:
        """Book a delivery; into a car's trunk it needs the customer's `consent` token."""
        result: JSON = self.request("POST", "/deliveries", booking, consent=consent)
        return result

    # -- carriers -----------------------------------------------------------------------
    def add_service_area(self, **area: Any) -> JSON:
        result: JSON = self.request("POST", "/service-areas", area)
        return result

    def create_route(self, *, driver_id: str, service_date: str, delivery_ids: list[str]) -> JSON:
        body = {"driver_id": driver_id, "service_date": service_date, "delivery_ids": delivery_ids}
        result: JSON = self.request("POST", "/routes", body)
        return result

    def plan(self, **plan: Any) -> JSON:
        result: JSON = self.request("POST", "/plans", plan)
        return result

    def start_route(self, route_id: str) -> JSON:
        result: JSON = self.request("POST", f"/routes/{route_id}/start")
        return result

    def routes(self, date: str | None = None) -> list[JSON]:
        return self._list("/routes", date=date)

    def devices(self) -> list[JSON]:
        return self._list("/devices")

    def approve_device(self, device_id: str) -> JSON:
        result: JSON = self.request("POST", f"/devices/{device_id}/approve")
        return result

    # -- drivers ------------------------------------------------------------------------
    def register_handset(self, handset: Handset, *, label: str = "phone") -> JSON:
        """Register the handset's public key; it signs nothing until the carrier approves."""
        device: JSON = self.request(
            "POST", "/devices", {"public_key": handset.public_key, "label": label}
        )
        handset.device_id = device["id"]
        return device

    def stops(self, date: str | None = None) -> list[JSON]:
        return self._list("/stops", date=date)

    def next_stop(self) -> JSON:
        result: JSON = self.request("GET", "/stops/next")
        return result

    def start_attempt(self, stop: JSON, *, at: Position, handset: Handset | None = None) -> JSON:
        body: JSON = {
            "position": {"latitude": at[0], "longitude": at[1]},
            "scanned_parcel_ref": stop["parcel_ref"],
        }
        if handset is not None and handset.device_id is not None:
            body["device_id"] = handset.device_id
        result: JSON = self.request("POST", f"/stops/{stop['id']}/attempts", body)
        return result

    def request_access(self, attempt_id: str, *, at: Position, handset: Handset) -> JSON:
        """Challenge, sign with the handset, ask: the unlock is queued (202)."""
        if handset.device_id is None:
            raise ValueError("register the handset first (Client.register_handset)")
        challenge = self.request(
            "POST", f"/attempts/{attempt_id}/challenge", {"device_id": handset.device_id}
        )
        nonce = challenge["nonce"]
        body = {
            "position": {"latitude": at[0], "longitude": at[1]},
            "device_id": handset.device_id,
            "nonce": nonce,
            "signature": handset.sign(nonce=nonce, attempt_id=attempt_id),
        }
        result: JSON = self.request("POST", f"/attempts/{attempt_id}/access", body)
        return result

    def attempt(self, attempt_id: str) -> JSON:
        result: JSON = self.request("GET", f"/attempts/{attempt_id}")
        return result

    def deposit(self, attempt_id: str) -> JSON:
        result: JSON = self.request("POST", f"/attempts/{attempt_id}/deposit")
        return result

    def fail(self, attempt_id: str, reason: str) -> JSON:
        result: JSON = self.request("POST", f"/attempts/{attempt_id}/fail", {"reason": reason})
        return result

    # -- operators ----------------------------------------------------------------------
    def incidents(self, status: str | None = None) -> list[JSON]:
        return self._list("/incidents", status=status)

    def acknowledge(self, incident_id: str) -> JSON:
        result: JSON = self.request("POST", f"/incidents/{incident_id}/acknowledge")
        return result

    def resolve(self, incident_id: str, note: str) -> JSON:
        result: JSON = self.request("POST", f"/incidents/{incident_id}/resolve", {"note": note})
        return result

    def audit_verify(self) -> JSON:
        result: JSON = self.request("GET", "/audit/verify")
        return result

    def simulate(self, vehicle_id: str, action: str, at: Position | None = None) -> JSON:
        """The simulated car (development): `park` it at `at`, `close_trunk`, …"""
        body: JSON = {"action": action}
        if at is not None:
            body |= {"latitude": at[0], "longitude": at[1]}
        result: JSON = self.request("POST", f"/sim/vehicles/{vehicle_id}", body)
        return result
