"""A small world for tests: parties with keys, a service area, cars, places and bookings,
all made through the HTTP API as the parties themselves would."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from httpx import Response

from trunkdrop import workers
from trunkdrop.access.tokens import TRUNK_UNLOCK, b64u, proof_message
from trunkdrop.bootstrap import Platform
from trunkdrop.clock import ManualClock
from trunkdrop.devices.schemas import DeviceProof
from trunkdrop.parties import service as parties

BERLIN = ZoneInfo("Europe/Berlin")
CENTRE = (48.1374, 11.5755)
OFFICE = (48.1402, 11.5600)
HOME = (48.1497, 11.5670)
_serial = itertools.count(1)
SHOP_SCOPES = "places:read deliveries:book returns:book"
REDIRECT_URI = "https://shop.example/trunkdrop/callback"
_CUSTOMERS_PATH = re.compile(r"^/v1/customers/([^/]+)/")


@dataclass
class Handset:
    """A driver's phone: its own Ed25519 key, which never leaves it."""

    id: str = ""
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_key(self) -> str:
        return b64u(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    def sign(self, nonce: str, attempt_id: str, action: str = TRUNK_UNLOCK) -> str:
        return b64u(
            self.private_key.sign(proof_message(nonce=nonce, action=action, attempt_id=attempt_id))
        )


class World:
    def __init__(self, platform: Platform, client: TestClient, clock: ManualClock) -> None:
        self.platform, self.client, self.clock = platform, client, clock
        self.keys: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.handsets: dict[str, Handset] = {}
        self.roles: dict[str, str] = {}
        self.oauth_clients: dict[str, dict[str, Any]] = {}
        # Consent tokens by (shop, customer id): each shop asks each customer once.
        self.consents: dict[tuple[str, str], str] = {}
        self.add_party("retailer", "shop")
        self.add_party("carrier", "carrier")
        self.add_party("driver", "driver", carrier="carrier")
        self.add_party("driver", "driver2", carrier="carrier")
        self.add_party("operator", "operator")
        self.add_party("carmaker", "aurora-cloud", brand="sim-aurora")
        self.add_party("customer", "anna")
        self.add_party("customer", "ben")
        self.add_party("carrier", "other-carrier")
        self.add_party("retailer", "other-shop")
        for driver in ("driver", "driver2"):
            self.handsets[driver] = self.register_handset(driver)
        self.ok(
            self.post(
                "carrier",
                "/v1/service-areas",
                {
                    "name": "Munich",
                    "latitude": CENTRE[0],
                    "longitude": CENTRE[1],
                    "radius_m": 15_000,
                    "depot_latitude": 48.178,
                    "depot_longitude": 11.4905,
                },
            ),
            201,
        )

    # -- parties and HTTP ----------------------------------------------------------------
    def add_party(
        self, role: str, name: str, *, carrier: str | None = None, brand: str | None = None
    ) -> str:
        with self.platform.uow() as session:
            party = parties.create_party(
                session=session,
                role=role,
                name=name,
                now=self.clock.now(),
                carrier_id=self.ids[carrier] if carrier else None,
                brand=brand,
                brands=self.platform.registry.brands(),
            )
            self.keys[name] = parties.create_api_key(
                session=session, party=party, now=self.clock.now()
            )
            self.ids[name] = party.id
            self.roles[name] = role
        return self.ids[name]

    def auth(self, who: str, customer: str | None = None) -> dict[str, str]:
        """`who`'s API key; for a shop acting for `customer` (a name or an id), also the
        customer's consent, asked for once (as a shop would at its first checkout)."""
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        if customer is not None and self.roles.get(who) == "retailer":
            customer_id = self.ids.get(customer, customer)
            if (who, customer_id) not in self.consents:
                name = next((n for n, i in self.ids.items() if i == customer_id), None)
                if name is None or self.roles.get(name) != "customer":
                    return headers  # nobody to ask
                self.consents[who, customer_id] = self.consent(who, name)["access_token"]
            headers["Trunkdrop-Consent"] = self.consents[who, customer_id]
        return headers

    def _for_customer(self, path: str, body: Any) -> str | None:
        if isinstance(body, dict) and isinstance(body.get("customer_id"), str):
            return str(body["customer_id"])
        found = _CUSTOMERS_PATH.match(path)
        return found.group(1) if found else None

    def get(self, who: str, path: str, **kw: Any) -> Response:
        return self.client.get(path, headers=self.auth(who, self._for_customer(path, None)), **kw)

    def post(self, who: str, path: str, body: Any = None) -> Response:
        return self.client.post(
            path, headers=self.auth(who, self._for_customer(path, body)), json=body
        )

    # -- a customer's consent to a shop (OAuth 2 authorisation code + PKCE) ---------------
    def oauth_client(self, shop: str) -> dict[str, Any]:
        if shop not in self.oauth_clients:
            self.oauth_clients[shop] = self.ok(
                self.post(
                    shop, "/v1/oauth-clients", {"name": shop, "redirect_uris": [REDIRECT_URI]}
                ),
                201,
            )
        return self.oauth_clients[shop]

    def authorize(
        self, shop: str, customer: str, scope: str = SHOP_SCOPES, verifier: str | None = None
    ) -> tuple[str, str]:
        """The customer approves the shop: the code the shop gets back, and its verifier."""
        client = self.oauth_client(shop)
        verifier = verifier or secrets.token_urlsafe(48)
        response = self.client.post(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": REDIRECT_URI,
                "scope": scope,
                "state": "st-1",
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256",
            },
            data={"decision": "approve"},
            headers=self.auth(customer),
            follow_redirects=False,
        )
        assert response.status_code == 302, f"{response.status_code}: {response.text}"
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == ["st-1"], query
        return query["code"][0], verifier

    def consent(self, shop: str, customer: str, scope: str = SHOP_SCOPES) -> dict[str, Any]:
        """Run the whole consent flow; the token endpoint's answer."""
        code, verifier = self.authorize(shop, customer, scope)
        client = self.oauth_client(shop)
        return self.ok(
            self.client.post(
                "/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                    "client_id": client["client_id"],
                    "client_secret": client["client_secret"],
                },
            )
        )

    def delete(self, who: str, path: str) -> Response:
        return self.client.delete(path, headers=self.auth(who))

    @staticmethod
    def ok(response: Response, status: int = 200) -> Any:
        assert response.status_code == status, f"{response.status_code}: {response.text}"
        return response.json() if response.content else None

    # -- time ----------------------------------------------------------------------------
    def at(self, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(
            self.clock.now().astimezone(BERLIN).date(), time(hour, minute), BERLIN
        )

    def tick(self, seconds: int, step: int = 2) -> None:
        """Let time pass with the workers running, as in the server."""
        for _ in range(max(1, seconds // step)):
            workers.run_once(self.platform, self.clock.advance(step))

    def until(self, moment: datetime) -> None:
        self.clock.set(moment)
        workers.run_once(self.platform, moment)

    # -- customers -----------------------------------------------------------------------
    def link_car(
        self, who: str = "anna", brand: str = "sim-aurora", trunk_volume_l: int = 450
    ) -> dict[str, Any]:
        n = next(_serial)
        return self.ok(
            self.post(
                who,
                "/v1/vehicles",
                {
                    "brand": brand,
                    "external_id": f"VIN{n:014d}",
                    "make": "Aurora",
                    "model": "Estate",
                    "year": 2023,
                    "plate": f"M-TD {n}",
                    "colour": "blue",
                    "trunk_volume_l": trunk_volume_l,
                },
            ),
            201,
        )

    def add_place(
        self, who: str = "anna", label: str = "office", where: tuple[float, float] = OFFICE
    ) -> dict[str, Any]:
        return self.ok(
            self.post(
                who,
                "/v1/places",
                {
                    "label": label,
                    "latitude": where[0],
                    "longitude": where[1],
                    "address": f"{label} street 1",
                },
            ),
            201,
        )

    def park(self, vehicle: dict[str, Any], where: tuple[float, float]) -> None:
        self.platform.simulator.park(
            vehicle["brand"], vehicle["external_id"], where[0], where[1], self.clock.now()
        )
        workers.run_once(self.platform, self.clock.now())

    def parcel(self, **over: Any) -> dict[str, Any]:
        return {
            "reference": f"PCL-{next(_serial):06d}",
            "length_cm": 40,
            "width_cm": 30,
            "height_cm": 20,
            "weight_g": 2000,
            "declared_value_cents": 5000,
            **over,
        }

    def book(
        self,
        vehicle: dict[str, Any],
        itinerary: list[tuple[dict[str, Any], int, int]],
        who: str = "anna",
        shop: str = "shop",
        fallback: bool = True,
        **parcel: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "customer_id": self.ids[who],
            "vehicle_id": vehicle["id"],
            "retailer_reference": f"ORD-{next(_serial)}",
            "parcel": self.parcel(**parcel),
            "itinerary": [
                {
                    "place_id": place["id"],
                    "window_start": self.at(a).isoformat(),
                    "window_end": self.at(b).isoformat(),
                }
                for place, a, b in itinerary
            ],
        }
        if fallback:
            body["fallback_address"] = {
                "address": "Schellingstr. 10",
                "latitude": HOME[0],
                "longitude": HOME[1],
            }
        return self.ok(self.post(shop, "/v1/deliveries", body), 201)

    def route(
        self, *deliveries: dict[str, Any], driver: str = "driver", start: bool = True
    ) -> dict[str, Any]:
        route = self.ok(
            self.post(
                "carrier",
                "/v1/routes",
                {
                    "driver_id": self.ids[driver],
                    "service_date": self.at(0).date().isoformat(),
                    "delivery_ids": [d["id"] for d in deliveries],
                },
            ),
            201,
        )
        if start:
            route = self.ok(self.post("carrier", f"/v1/routes/{route['id']}/start"))
        return route

    def next_stop(self, driver: str = "driver") -> dict[str, Any]:
        stops = self.ok(self.get(driver, "/v1/stops"))["data"]
        return next(s for s in stops if s["is_next"])

    def start_attempt(
        self,
        stop: dict[str, Any],
        driver: str = "driver",
        at: tuple[float, float] | None = None,
        device_id: str | None = None,
    ) -> Response:
        """Start the attempt at `stop`; naming a handset (`device_id`) asks for its
        challenge with the answer."""
        where = at or (stop["latitude"] + 0.0001, stop["longitude"])
        body: dict[str, Any] = {
            "position": {"latitude": where[0], "longitude": where[1]},
            "scanned_parcel_ref": stop["parcel_ref"],
        }
        if device_id is not None:
            body["device_id"] = device_id
        return self.post(driver, f"/v1/stops/{stop['id']}/attempts", body)

    # -- devices -------------------------------------------------------------------------
    def register_handset(
        self, driver: str, handset: Handset | None = None, *, approve: bool = True
    ) -> Handset:
        """Register a handset as `driver`; its carrier approves it unless `approve` is False."""
        handset = handset or Handset()
        read = self.ok(
            self.post(driver, "/v1/devices", {"public_key": handset.public_key, "label": "phone"}),
            201,
        )
        handset.id = read["id"]
        if approve:
            self.ok(self.post("carrier", f"/v1/devices/{handset.id}/approve"))
        return handset

    def challenge(
        self, attempt_id: str, driver: str = "driver", device_id: str | None = None
    ) -> str:
        """A fresh nonce from the platform for this driver's handset and attempt."""
        device_id = device_id or self.handsets[driver].id
        body = self.ok(
            self.post(driver, f"/v1/attempts/{attempt_id}/challenge", {"device_id": device_id}),
            201,
        )
        nonce: str = body["nonce"]
        return nonce

    def proof(self, attempt_id: str, driver: str = "driver") -> DeviceProof:
        """A signed answer to a fresh challenge, for calling the flows directly."""
        handset = self.handsets[driver]
        nonce = self.challenge(attempt_id, driver, handset.id)
        return DeviceProof(
            device_id=handset.id, nonce=nonce, signature=handset.sign(nonce, attempt_id)
        )

    def request_access(
        self,
        attempt_id: str,
        at: tuple[float, float],
        driver: str = "driver",
        handset: Handset | None = None,
    ) -> Response:
        """Ask for access as the driver's app does: challenge, sign with the handset, send."""
        handset = handset or self.handsets[driver]
        asked = self.post(driver, f"/v1/attempts/{attempt_id}/challenge", {"device_id": handset.id})
        if asked.status_code != 201:
            return asked  # e.g. another driver's attempt: the refusal comes at the challenge
        nonce = asked.json()["nonce"]
        return self.post(
            driver,
            f"/v1/attempts/{attempt_id}/access",
            {
                "position": {"latitude": at[0], "longitude": at[1]},
                "device_id": handset.id,
                "nonce": nonce,
                "signature": handset.sign(nonce, attempt_id),
            },
        )

    def at_the_stop(
        self, *, at_hour: int = 10, minute: int = 15
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Anna's car parked at her office, a delivery booked 10–12, the route started, the
        clock at the stop's time. Returns (vehicle, delivery, the driver's next stop)."""
        vehicle = self.link_car()
        office = self.add_place()
        delivery = self.book(vehicle, [(office, 10, 12)])
        self.route(delivery)
        self.park(vehicle, OFFICE)
        self.until(self.at(at_hour, minute))
        return vehicle, delivery, self.next_stop()

    def deliver_into_trunk(self, vehicle: dict[str, Any], attempt: dict[str, Any]) -> None:
        """The whole trunk delivery from the car: access, unlock, deposit, the lid shut, the
        car locked and reported."""
        self.ok(self.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
        self.tick(20)
        self.ok(self.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
        self.platform.simulator.close_trunk(
            vehicle["brand"], vehicle["external_id"], self.clock.now()
        )
        self.tick(30)

    def ready_at_car(
        self, *, at_hour: int = 10, minute: int = 15
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """`at_the_stop`, and the driver at the car with an attempt started.
        Returns (vehicle, delivery, attempt)."""
        vehicle, delivery, stop = self.at_the_stop(at_hour=at_hour, minute=minute)
        attempt = self.ok(self.start_attempt(stop), 201)
        return vehicle, delivery, attempt

    # -- pickups (returns, sends) ---------------------------------------------------------
    def authorise_return(self, who: str = "anna", shop: str = "shop") -> dict[str, Any]:
        """The shop authorises a return of one of `who`'s orders: the label comes back."""
        item = {k: v for k, v in self.parcel().items() if k != "reference"}
        body = {
            "customer_id": self.ids[who],
            "order_ref": f"ORD-{next(_serial)}",
            "reason": "wrong size",
            "parcel": item,
        }
        return self.ok(self.post(shop, "/v1/returns", body), 201)

    def book_pickup(
        self,
        vehicle: dict[str, Any],
        itinerary: list[tuple[dict[str, Any], int, int]],
        who: str = "anna",
        ready: bool = True,
    ) -> dict[str, Any]:
        """A return authorised and its pickup booked by `who` (the parcel said to be in
        the trunk unless `ready` is False). Returns the delivery of the pickup."""
        authorised = self.authorise_return(who)
        body = {
            "vehicle_id": vehicle["id"],
            "itinerary": [
                {
                    "place_id": place["id"],
                    "window_start": self.at(a).isoformat(),
                    "window_end": self.at(b).isoformat(),
                }
                for place, a, b in itinerary
            ],
        }
        booked = self.ok(self.post(who, f"/v1/returns/{authorised['id']}/pickup", body), 201)
        if ready:
            self.ok(self.post(who, f"/v1/returns/{authorised['id']}/ready"))
        delivery: dict[str, Any] = self.ok(self.get(who, f"/v1/deliveries/{booked['delivery_id']}"))
        delivery["return"] = booked
        return delivery

    def at_the_pickup(
        self, *, ready: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """`at_the_stop` for a return: Anna's car at her office, its pickup booked 10–12, the
        route started, 10:15. Returns (vehicle, the pickup's delivery, the next stop)."""
        vehicle = self.link_car()
        office = self.add_place()
        pickup = self.book_pickup(vehicle, [(office, 10, 12)], ready=ready)
        self.route(pickup)
        self.park(vehicle, OFFICE)
        self.until(self.at(10, 15))
        return vehicle, pickup, self.next_stop()

    def open_for_pickup(
        self, *, ready: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """`at_the_pickup`, the attempt started and the trunk opened for it. Returns
        (vehicle, the pickup's delivery, the attempt)."""
        vehicle, pickup, stop = self.at_the_pickup(ready=ready)
        attempt = self.ok(self.start_attempt(stop), 201)
        self.ok(self.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
        self.tick(20)
        return vehicle, pickup, attempt

    def close_trunk(self, vehicle: dict[str, Any]) -> None:
        """The driver shuts the lid; the car locks and reports it."""
        self.platform.simulator.close_trunk(
            vehicle["brand"], vehicle["external_id"], self.clock.now()
        )
        self.tick(30)


async def post_raw(app: Any, path: str, auth: bytes, payload: Any, on_start: Any) -> None:
    """POST through the raw ASGI app (no test client between): `on_start(status)` runs
    the moment the response starts to leave."""
    body = json.dumps(payload).encode()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"authorization", auth)],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            on_start(message["status"])

    await app(scope, receive, send)
