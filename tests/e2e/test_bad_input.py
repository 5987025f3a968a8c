"""Garbage on every endpoint: whatever arrives, the answer is a 4xx problem+json naming the
field (for 422), never a 5xx. The endpoints are walked from the app's own OpenAPI document,
each called with the key of a role allowed on it, so a new endpoint is covered by default."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import pytest
from httpx import Response
from sqlalchemy import func, select

from tests.support import HOME, OFFICE, World
from trunkdrop.deliveries.models import Delivery
from trunkdrop.vehicles.models import Vehicle

WIDGET_PATH = "/v1/checkout-sessions/current/options"
# Which key calls which endpoint: (method or None for any, path prefix, party). First match wins.
ROLES: list[tuple[str | None, str, str | None]] = [
    ("POST", "/v1/vehicle-events", "aurora-cloud"),
    (None, "/v1/vehicles", "anna"),
    (None, "/v1/vehicle-consents", "anna"),
    (None, "/v1/places", "anna"),
    # The checkout widget's read: a checkout session's token, no party's key (`headers`).
    ("GET", WIDGET_PATH, None),
    (None, "/v1/checkout", "shop"),
    (None, "/v1/deliveries", "shop"),
    (None, "/v1/stops", "driver"),
    ("POST", "/v1/attempts/{attempt_id}/settle", "operator"),
    (None, "/v1/attempts", "driver"),
    ("POST", "/v1/devices/{device_id}/approve", "carrier"),
    (None, "/v1/devices", "driver"),
    (None, "/v1/service-areas", "carrier"),
    (None, "/v1/routes", "carrier"),
    (None, "/v1/plans", "carrier"),
    (None, "/v1/incidents", "operator"),
    (None, "/v1/audit", "operator"),
    (None, "/v1/keys", "operator"),
    (None, "/v1/sim", "operator"),
    (None, "/v1/me", "anna"),
    (None, "/v1/parties", "operator"),
    (None, "/v1/brands", "anna"),
    (None, "/v1/events", "shop"),
    (None, "/v1/webhook-", "shop"),
    ("POST", "/v1/returns/", "anna"),
    (None, "/v1/sends", "anna"),
    (None, "/v1/returns", "shop"),
    (None, "/v1/oauth-clients", "shop"),
    (None, "/v1/customers", "shop"),
    (None, "/v1/pickup-points", "carrier"),
    (None, "/health", None),
]

_SEND = {
    "kind": "letter",
    "parcel": {"length_cm": 22, "width_cm": 11, "height_cm": 1, "weight_g": 20,
               "declared_value_cents": 0},
    "recipient": {"name": "Max Muster", "address": "Hauptstr. 1"},
}  # fmt: skip
_POINT = {
    "name": "Kiosk", "kind": "locker", "address": "Schellingstr. 20", "latitude": HOME[0],
    "longitude": HOME[1], "capacity": 10,
    "opening_hours": {"mon": [{"opens": "00:00", "closes": "24:00"}]},
}  # fmt: skip
HUGE = "a" * 100_000
LONG_ID = "x" * 10_000
WRONG_TYPE_SCALAR: list[Any] = ["not", "a", "scalar"]
WRONG_TYPE_CONTAINER = "not a container"
MUTATIONS: dict[str, list[Any]] = {
    "null": [None],
    "huge_numbers": [1e308, 10**30, math.inf, math.nan],
    "negative_numbers": [-1, -1e308, -(10**30)],
    "huge_strings": [HUGE, "9" * 100_000],
}
BAD_DATETIMES = [
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
    "2026-12-01T10:00:00",  # no time zone
    "2026-02-30T10:00:00+01:00",
    "2026-12-01T10:00:00+25:00",
    "yesterday",
]
BAD_DATES = ["0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "01.12.2026"]
NOT_JSON: list[tuple[str, bytes]] = [
    ("application/json", b"{not json"),
    ("application/json", b"\xff\xfe\x00garbage"),
    ("application/json", b""),
    ("application/json", b"[" * 100_000),
    ("application/json", b"null"),
    ("application/json", b"[]"),
    ("application/json", b'"just a string"'),
    ("application/json", b"1e308"),
    ("application/json", json.dumps(HUGE).encode()),
    ("text/plain", b"hello"),
    ("application/x-www-form-urlencoded", b"a=1&b=2"),
]


# -- the world the garbage is thrown at ------------------------------------------------------
class Fuzz:
    """Every operation of the API with a key allowed on it, real ids and a valid body."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.spec: dict[str, Any] = world.ok(world.client.get("/openapi.json"))
        vehicle, delivery, attempt = world.ready_at_car()
        self.vehicle = vehicle
        place = world.ok(world.get("anna", "/v1/places"))["data"][0]
        route = world.ok(world.get("carrier", "/v1/routes"))["data"][0]
        self.real = {
            "customer_id": world.ids["anna"],
            "vehicle_id": vehicle["id"],
            "place_id": place["id"],
            "delivery_id": delivery["id"],
            "stop_id": attempt["stop_id"],
            "attempt_id": attempt["id"],
            "route_id": route["id"],
            "return_id": world.authorise_return()["id"],
            "send_id": world.ok(world.post("anna", "/v1/sends", _SEND), 201)["id"],
            "point_id": world.ok(world.post("carrier", "/v1/pickup-points", _POINT), 201)["id"],
        }
        day = world.at(0).date().isoformat()
        door_pickup = {
            "address": {"address": "Schellingstr. 10", "latitude": HOME[0], "longitude": HOME[1]},
            "service_date": day,
            "door_window": {"start": world.at(17).isoformat(), "end": world.at(19).isoformat()},
        }
        near = {"latitude": OFFICE[0] + 0.0001, "longitude": OFFICE[1]}
        self.checkout_token = world.ok(
            world.post(
                "shop",
                "/v1/checkout-sessions",
                {"customer_id": world.ids["anna"], "date": day, "parcel": world.parcel()},
            ),
            201,
        )["token"]
        self.bodies: dict[tuple[str, str], Any] = {
            ("POST", "/v1/vehicles"): {
                "brand": "sim-aurora", "external_id": "VINFUZZ0000000001", "make": "Aurora",
                "model": "Estate", "year": 2023, "plate": "M-FZ 1", "colour": "red",
                "trunk_volume_l": 400,
            },
            ("POST", "/v1/vehicle-consents"): {
                "brand": "sim-fjord", "external_id": "FJORDFUZZ0000001", "make": "Fjord",
                "model": "Tourer", "year": 2024, "plate": "M-FZ 2", "colour": "grey",
                "trunk_volume_l": 400,
            },
            ("POST", "/v1/vehicle-events"): {
                "event_id": "fuzz-1", "vehicle_id": vehicle["external_id"], "type": "online",
                "occurred_at": world.at(10, 10).isoformat(), "latitude": OFFICE[0],
                "longitude": OFFICE[1], "command_id": "cmd_fuzz", "detail": "fuzz",
            },
            ("POST", "/v1/oauth-clients"): {
                "name": "Fuzz shop", "redirect_uris": ["https://shop.example/cb"],
            },
            ("POST", "/v1/places"): {
                "label": "gym", "latitude": HOME[0], "longitude": HOME[1], "address": "Gym 1",
                "parking_notes": "level 2", "is_home": False,
            },
            ("POST", "/v1/checkout/options"): {
                "customer_id": world.ids["anna"], "date": day, "parcel": world.parcel(),
            },
            ("POST", "/v1/checkout-sessions"): {
                "customer_id": world.ids["anna"], "date": day, "parcel": world.parcel(),
            },
            ("POST", "/v1/deliveries"): {
                "customer_id": world.ids["anna"], "vehicle_id": vehicle["id"],
                "retailer_reference": "ORD-FUZZ", "parcel": world.parcel(signature_required=False),
                "itinerary": [
                    {"place_id": place["id"], "window_start": world.at(14).isoformat(),
                     "window_end": world.at(16).isoformat()},
                ],
                "fallback_address": {"address": "Home 1", "latitude": HOME[0], "longitude": HOME[1]},
            },
            ("POST", "/v1/stops/{stop_id}/attempts"): {
                "position": near, "scanned_parcel_ref": delivery["parcel_ref"],
            },
            ("POST", "/v1/attempts/{attempt_id}/access"): {
                "position": near, "device_id": world.handsets["driver"].id,
                "nonce": "bm90LWEtcmVhbC1ub25jZQ", "signature": "c2ln",
            },
            ("POST", "/v1/attempts/{attempt_id}/challenge"): {
                "device_id": world.handsets["driver"].id,
            },
            ("POST", "/v1/devices"): {
                "public_key": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "label": "spare",
            },
            ("POST", "/v1/attempts/{attempt_id}/fail"): {"reason": "other", "detail": "fuzz"},
            ("POST", "/v1/attempts/{attempt_id}/settle"): {"outcome": "delivered", "note": "fuzz"},
            ("POST", "/v1/incidents/{incident_id}/resolve"): {"note": "fuzz"},
            ("POST", "/v1/parties/{party_id}/api-keys"): {
                "label": "fuzz", "device_id": world.handsets["driver"].id,
            },
            ("POST", "/v1/service-areas"): {
                "name": "Fuzz", "latitude": OFFICE[0], "longitude": OFFICE[1], "radius_m": 1000,
                "depot_latitude": HOME[0], "depot_longitude": HOME[1],
            },
            ("POST", "/v1/routes"): {
                "driver_id": world.ids["driver2"], "service_date": day,
                "delivery_ids": [delivery["id"]],
            },
            ("POST", "/v1/plans"): {
                "service_date": day, "driver_ids": [world.ids["driver2"]], "seconds": 0.5,
            },
            ("POST", "/v1/plans/replan"): {"service_date": day, "seconds": 0.5},
            ("POST", "/v1/webhook-endpoints"): {
                "url": "https://shop.example/hooks", "events": ["delivery.delivered"],
            },
            ("POST", "/v1/sim/vehicles/{vehicle_id}"): {
                "action": "park", "latitude": OFFICE[0], "longitude": OFFICE[1],
            },
            ("POST", "/v1/returns"): {
                "customer_id": world.ids["anna"], "order_ref": "ORD-FUZZ", "reason": "fuzz",
                "parcel": {k: v for k, v in world.parcel().items() if k != "reference"},
            },
            ("POST", "/v1/returns/{return_id}/pickup"): {
                "vehicle_id": vehicle["id"],
                "itinerary": [
                    {"place_id": place["id"], "window_start": world.at(14).isoformat(),
                     "window_end": world.at(16).isoformat()},
                ],
            },
            ("POST", "/v1/attempts/{attempt_id}/collect"): {"scanned_label": "TDR0"},
            ("POST", "/v1/attempts/{attempt_id}/deposit"): {
                "scanned_parcel_ref": delivery["parcel_ref"],
            },
            ("POST", "/v1/sends"): _SEND,
            ("POST", "/v1/returns/{return_id}/door-pickup"): door_pickup,
            ("POST", "/v1/sends/{send_id}/door-pickup"): door_pickup,
            ("POST", "/v1/pickup-points"): _POINT,
            ("PATCH", "/v1/pickup-points/{point_id}"): {"capacity": 12, "name": "Kiosk 2"},
            ("POST", "/v1/pickup-points/{point_id}/collections"): {
                "parcel_ref": delivery["parcel_ref"], "code": "12345678",
            },
            ("POST", "/v1/sends/{send_id}/pickup"): {
                "vehicle_id": vehicle["id"],
                "itinerary": [
                    {"place_id": place["id"], "window_start": world.at(14).isoformat(),
                     "window_end": world.at(16).isoformat()},
                ],
            },
            ("PATCH", "/v1/places/{place_id}"): {"label": "desk", "parking_notes": "bay 3"},
            ("PATCH", "/v1/deliveries/{delivery_id}"): {
                "itinerary": [
                    {"place_id": place["id"], "window_start": world.at(14).isoformat(),
                     "window_end": world.at(16).isoformat()},
                ],
            },
            ("PATCH", "/v1/me"): {
                "language": "de", "timezone": "Europe/Berlin", "email": "anna@example.org",
            },
        }  # fmt: skip

    # -- the OpenAPI walk --------------------------------------------------------------------
    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for path, ops in self.spec["paths"].items():
            if path.startswith("/oauth/"):
                continue  # RFC 6749 answers its errors as `{"error": ...}`, not as problems
            for method, op in ops.items():
                yield method.upper(), path, op

    def body_operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for method, path, op in self.operations():
            # Raw uploads (a proof photo's bytes) have their own tests: no JSON to walk.
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                yield method, path, op

    def who(self, method: str, path: str) -> str | None:
        for m, prefix, who in ROLES:
            if (m is None or m == method) and path.startswith(prefix):
                return who
        raise AssertionError(f"no role mapped for {method} {path}: add it to ROLES")

    def headers(
        self, method: str, path: str, content_type: str = "application/json"
    ) -> dict[str, str]:
        who = self.who(method, path)
        headers = {"content-type": content_type}
        if path == WIDGET_PATH:
            return {**headers, "Authorization": f"Bearer {self.checkout_token}"}
        # A shop acts for anna, with her consent.
        return {**headers, **self.world.auth(who, "anna")} if who else headers

    def url(self, path: str, ids: dict[str, str] | None = None, query: str = "") -> str:
        ids = self.real if ids is None else ids
        filled = re.sub(r"{(\w+)}", lambda m: quote(ids.get(m.group(1), "nope"), safe=""), path)
        return filled + query

    def schema(self, op: dict[str, Any]) -> dict[str, Any]:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        # An optional body (`anyOf: [schema, null]`): when sent, it is that schema.
        schema = next((s for s in schema.get("anyOf", []) if "$ref" in s), schema)
        return self.resolve(schema)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def send(self, method: str, path: str, body: Any, *, url: str | None = None) -> Response:
        raw = json.dumps(body, allow_nan=True).encode()
        return self.world.client.request(
            method, url or self.url(path), headers=self.headers(method, path), content=raw
        )

    # -- a small JSON Schema judge: True valid, False invalid, None cannot tell -----------------
    def accepts(self, schema: dict[str, Any], value: Any) -> bool | None:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            answers = [self.accepts(s, value) for s in schema["anyOf"]]
            return True if True in answers else (None if None in answers else False)
        if "const" in schema:
            return bool(value == schema["const"])
        if "enum" in schema:
            return value in schema["enum"]
        kind = schema.get("type")
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind == "null":
            return value is None
        if kind == "boolean":
            return isinstance(value, bool)
        if kind in ("integer", "number"):
            if isinstance(value, str):
                return None  # lax mode parses numeric strings
            if not is_number or not math.isfinite(value):
                return False
            if kind == "integer" and value != int(value):
                return False
            return schema.get("minimum", -math.inf) <= value <= schema.get("maximum", math.inf)
        if kind == "string":
            return self._accepts_string(schema, value, is_number)
        if kind == "array":
            if not isinstance(value, list):
                return False
            if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9):
                return False
            return self._all([self.accepts(schema.get("items", {}), v) for v in value])
        if kind == "object":
            if not isinstance(value, dict):
                return False
            props = schema.get("properties", {})
            if any(r not in value for r in schema.get("required", [])):
                return False
            if schema.get("additionalProperties") is False and set(value) - set(props):
                return False
            return self._all([self.accepts(props[k], v) for k, v in value.items() if k in props])
        return None

    def _accepts_string(self, schema: dict[str, Any], value: Any, is_number: bool) -> bool | None:
        fmt = schema.get("format")
        if not isinstance(value, str):
            # Lax mode reads numbers as unix timestamps for dates and times.
            return None if is_number and fmt in ("date", "date-time") else False
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
        try:
            if fmt == "date":
                date.fromisoformat(value)
            elif fmt == "date-time":
                return None if datetime.fromisoformat(value).tzinfo is None else True
        except ValueError:
            return False
        return True

    @staticmethod
    def _all(answers: list[bool | None]) -> bool | None:
        return False if False in answers else (None if None in answers else True)


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every node below the root as (field name as the API names it, value)."""
    if isinstance(value, dict):
        for key, child in value.items():
            name = f"{path}.{key}" if path else key
            yield name, child
            yield from leaves(child, name)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            name = f"{path}[{i}]"
            yield name, child
            yield from leaves(child, name)


def replaced(value: Any, path: str, new: Any) -> Any:
    """A deep copy of `value` with the node at `path` replaced by `new`."""
    copy = json.loads(json.dumps(value))
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node = copy
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = new
    else:
        node[last] = new
    return copy


def problems_in(
    response: Response, where: str, *, status: int | None = None, field: str | None = None
) -> list[str]:
    """What is wrong with this answer to garbage (empty: nothing)."""
    got = response.status_code
    if got >= 500:
        return [f"{where}: {got} {response.text[:300]}"]
    found = []
    if status is not None and got != status:
        found.append(f"{where}: expected {status}, got {got} {response.text[:300]}")
    if got in (401, 403) and status not in (401, 403):
        found.append(f"{where}: {got} — the mapped role should be allowed here")
    if 400 <= got < 500:
        if not response.headers.get("content-type", "").startswith("application/problem+json"):
            found.append(f"{where}: {got} with content type {response.headers.get('content-type')}")
            return found
        body = response.json()
        for key in ("status", "code", "title", "detail"):
            if not body.get(key):
                found.append(f"{where}: problem without {key!r}: {body}")
        if body.get("status") != got:
            found.append(f"{where}: problem status {body.get('status')} != {got}")
        if got == 422 and not (isinstance(body.get("field"), str) and body["field"]):
            found.append(f"{where}: 422 without a field: {body}")
        if field is not None and body.get("field") != field:
            found.append(
                f"{where}: expected field {field!r}, got {body.get('field')!r} ({body.get('detail')})"
            )
    return found


def report(found: list[str]) -> None:
    assert not found, f"{len(found)} problems:\n" + "\n".join(found[:40])


@pytest.fixture
def fuzz(world: World) -> Fuzz:
    return Fuzz(world)


# -- the walk ----------------------------------------------------------------------------------
def test_every_operation_is_covered(fuzz: Fuzz) -> None:
    """Every operation has a role here, every body has a valid example, and that example is valid."""
    ops = list(fuzz.operations())
    assert len(ops) >= 30
    for method, path, _ in ops:
        fuzz.who(method, path)
    with_body = {(m, p) for m, p, _ in fuzz.body_operations()}
    assert with_body == set(fuzz.bodies), "keep Fuzz.bodies in step with the API"
    for method, path, op in fuzz.body_operations():
        assert fuzz.accepts(fuzz.schema(op), fuzz.bodies[(method, path)]) is True, (method, path)


def test_non_json_bodies_get_a_problem(fuzz: Fuzz) -> None:
    """Broken JSON, non-objects, deep nesting, other content types: 4xx problem+json, never 5xx."""
    found: list[str] = []
    for method, path, op in fuzz.operations():
        has_body = "requestBody" in op
        if not has_body and "{" not in path and method != "GET":
            continue  # a body-less action on the caller itself would just run
        url = fuzz.url(path) if has_body else fuzz.url(path, ids={})
        for content_type, raw in NOT_JSON:
            where = f"{method} {path} [{content_type} {raw[:20]!r}]"
            response = fuzz.world.client.request(
                method, url, headers=fuzz.headers(method, path, content_type), content=raw
            )
            if has_body:
                found += problems_in(response, where)
                if response.status_code < 400:
                    found.append(f"{where}: accepted with {response.status_code}")
                elif response.status_code == 422:
                    found += problems_in(response, where, field="body")
            elif "{" in path:
                found += problems_in(response, where, status=404)
            else:
                found += problems_in(response, where)
    report(found)


def test_empty_object_names_a_missing_field(fuzz: Fuzz) -> None:
    """An empty JSON object: 422 naming one of the required fields (a PATCH with none: no change)."""
    found: list[str] = []
    for method, path, op in fuzz.body_operations():
        required = fuzz.schema(op).get("required", [])
        response = fuzz.send(method, path, {})
        where = f"{method} {path} {{}}"
        if not required:  # a PATCH of optional fields: an empty one changes nothing
            assert method == "PATCH" and response.status_code == 200, where
            continue
        found += problems_in(response, where, status=422)
        if response.status_code == 422 and response.json().get("field") not in required:
            found.append(
                f"{where}: field {response.json().get('field')!r} is not one of {required}"
            )
    report(found)


def test_unknown_fields_are_refused_by_name(fuzz: Fuzz) -> None:
    """A valid body plus an unknown field: 422 naming that field (nothing silently ignored)."""
    found: list[str] = []
    for method, path, _ in fuzz.body_operations():
        body = {**fuzz.bodies[(method, path)], "is_admin": True}
        found += problems_in(
            fuzz.send(method, path, body), f"{method} {path}", status=422, field="is_admin"
        )
    report(found)


def _mutate_every_field(fuzz: Fuzz, values_for: Any) -> list[str]:
    found: list[str] = []
    for method, path, op in fuzz.body_operations():
        base = fuzz.bodies[(method, path)]
        schema = fuzz.schema(op)
        for name, original in list(leaves(base)):
            for value in values_for(original):
                body = replaced(base, name, value)
                valid = fuzz.accepts(schema, body)
                shown = repr(value)[:30]
                where = f"{method} {path} {name}={shown}"
                response = fuzz.send(method, path, body)
                if valid is False:
                    found += problems_in(response, where, status=422, field=name)
                else:
                    found += problems_in(response, where)
    return found


def test_wrong_types_are_refused_by_field(fuzz: Fuzz) -> None:
    """Every field given a value of the wrong type: 422 naming exactly that field."""

    def wrong(original: Any) -> list[Any]:
        return [WRONG_TYPE_CONTAINER if isinstance(original, dict | list) else WRONG_TYPE_SCALAR]

    report(_mutate_every_field(fuzz, wrong))


@pytest.mark.parametrize("family", sorted(MUTATIONS))
def test_out_of_range_values_are_refused_by_field(fuzz: Fuzz, family: str) -> None:
    """Null, ±1e308, ±10**30, inf, NaN, -1 and 100k-char strings in every field: never a 5xx."""
    report(_mutate_every_field(fuzz, lambda _: MUTATIONS[family]))


def test_bad_dates_and_times_are_refused_by_field(fuzz: Fuzz) -> None:
    """Naive, impossible or out-of-UTC-range dates and times in every such field: a 4xx."""

    def bad(original: Any) -> list[Any]:
        if isinstance(original, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT.+", original):
            return BAD_DATETIMES
        if isinstance(original, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", original):
            return BAD_DATES
        return []

    report(_mutate_every_field(fuzz, bad))


def test_unknown_and_huge_ids_in_the_path(fuzz: Fuzz) -> None:
    """Unknown ids in the path: 404 naming the id; a 10,000-char id: 422 naming the id."""
    found: list[str] = []
    for method, path, _ in fuzz.operations():
        params = re.findall(r"{(\w+)}", path)
        if not params:
            continue
        [param] = params
        body = fuzz.bodies.get((method, path))
        for bad, status in [("nope", 404), ("' OR 1=1 --", 404), ("🚗", 404), (LONG_ID, 422)]:
            url = fuzz.url(path, ids={param: bad})
            where = f"{method} {path} {param}={bad[:12]!r}"
            response = (
                fuzz.send(method, path, body, url=url)
                if body is not None
                else (fuzz.world.client.request(method, url, headers=fuzz.headers(method, path)))
            )
            found += problems_in(response, where, status=status, field=param)
    report(found)


def test_nul_in_a_path_id_is_refused_everywhere(fuzz: Fuzz) -> None:
    """An id with a NUL character (%00) in any path: 422 naming the path, never a 500
    (PostgreSQL refuses NUL in any text it compares)."""
    found: list[str] = []
    for method, path, _ in fuzz.operations():
        if "{" not in path:
            continue
        url = fuzz.url(path, ids=dict.fromkeys(re.findall(r"{(\w+)}", path), "dev\x00x"))
        body = fuzz.bodies.get((method, path))
        response = (
            fuzz.send(method, path, body, url=url)
            if body is not None
            else fuzz.world.client.request(method, url, headers=fuzz.headers(method, path))
        )
        found += problems_in(response, f"{method} {path}", status=422, field="path")
    report(found)


def test_bad_query_parameters_are_refused_by_name(fuzz: Fuzz) -> None:
    """Query parameters of the wrong type or out of range: 422 naming the parameter."""
    found: list[str] = []
    bad_values = ["bogus", "9" * 5_000, "a" * 5_000, "-1", "1e308", "2026-02-30"]
    for method, path, op in fuzz.operations():
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            name = param["name"]
            for value in bad_values:
                url = fuzz.url(path, ids={}, query=f"?{name}={quote(value)}")
                response = fuzz.world.client.request(
                    method, url, headers=fuzz.headers(method, path)
                )
                found += problems_in(
                    response, f"{method} {path}?{name}={value[:12]}", status=422, field=name
                )
    report(found)


# -- specific cases ------------------------------------------------------------------------------
def booking(
    world: World,
    vehicle: dict[str, Any],
    entries: list[tuple[dict[str, Any], Any, Any]],
    **over: Any,
) -> dict[str, Any]:
    return {
        "customer_id": world.ids["anna"],
        "vehicle_id": vehicle["id"],
        "retailer_reference": "ORD-BAD",
        "parcel": world.parcel(),
        "itinerary": [
            {
                "place_id": place["id"],
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
            }
            for place, start, end in entries
        ],
        **over,
    }


def refused(response: Response, status: int, field: str, code: str | None = None) -> dict[str, Any]:
    found = problems_in(response, "request", status=status, field=field)
    assert not found, found
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body["code"] == code, body
    return body


def no_deliveries(world: World) -> None:
    with world.platform.uow() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_itinerary_rules_name_the_offending_entry(world: World) -> None:
    """Inverted, overlapping, past, night-time and multi-day windows: 422 naming the entry."""
    car = world.link_car()
    office = world.add_place()
    home = world.add_place(label="home", where=HOME)
    at = world.at
    tomorrow = at(14).replace(day=at(14).day + 1)
    cases = [
        ([(office, at(12), at(10))], "itinerary[0].window_end", "window_inverted"),
        ([(office, at(10), at(10, 15))], "itinerary[0].window_end", "window_too_short"),
        ([(office, at(14), at(16)), (home, at(12), at(11))], "itinerary[1].window_end", "window_inverted"),
        ([(office, at(10), at(12)), (home, at(11), at(13))], "itinerary[1].window_start", "windows_overlap"),
        ([(office, at(5), at(7))], "itinerary[0].window_end", "window_in_past"),
        ([(office, at(21), at(23))], "itinerary[0].window_start", "window_outside_service_hours"),
        ([(office, at(10), at(12)), (home, tomorrow, tomorrow.replace(hour=16))], "itinerary[1].window_start", "itinerary_spans_days"),
    ]  # fmt: skip
    world.until(at(8))
    for entries, field, code in cases:
        refused(
            world.post("shop", "/v1/deliveries", booking(world, car, entries)), 422, field, code
        )
    no_deliveries(world)


def test_seven_element_itinerary_is_refused(world: World) -> None:
    """An itinerary of 7 place/window pairs (the limit is 6): 422 naming the itinerary."""
    car = world.link_car()
    office = world.add_place()
    entries = [(office, world.at(8 + h), world.at(9 + h)) for h in range(7)]
    refused(world.post("shop", "/v1/deliveries", booking(world, car, entries)), 422, "itinerary")
    no_deliveries(world)


def test_latitude_91_is_refused_everywhere(world: World) -> None:
    """Latitude 91 on a place, a fallback address, a service area or a position: 422 naming it."""
    car = world.link_car()
    office = world.add_place()
    place = {"label": "pole", "latitude": 91, "longitude": 11.5, "address": "North Pole 1"}
    refused(world.post("anna", "/v1/places", place), 422, "latitude")
    assert len(world.ok(world.get("anna", "/v1/places"))["data"]) == 1
    fallback = {"address": "x", "latitude": 91, "longitude": 11.5}
    body = booking(world, car, [(office, world.at(10), world.at(12))], fallback_address=fallback)
    refused(world.post("shop", "/v1/deliveries", body), 422, "fallback_address.latitude")
    area = {
        "name": "Pole",
        "latitude": 48.0,
        "longitude": 11.0,
        "radius_m": 1000,
        "depot_latitude": 91,
        "depot_longitude": 11.0,
    }
    refused(world.post("carrier", "/v1/service-areas", area), 422, "depot_latitude")
    event = {
        "event_id": "e-91",
        "vehicle_id": car["external_id"],
        "type": "position",
        "occurred_at": world.at(7).isoformat(),
        "latitude": 91,
        "longitude": 11.0,
    }
    refused(world.post("aurora-cloud", "/v1/vehicle-events", event), 422, "latitude")
    assert world.ok(world.get("anna", f"/v1/vehicles/{car['id']}"))["latitude"] is None
    no_deliveries(world)


def test_position_event_without_coordinates_is_refused(world: World) -> None:
    """A position report with no latitude: 422 naming latitude, and the car's position is unchanged."""
    car = world.link_car()
    event = {
        "event_id": "e-nopos",
        "vehicle_id": car["external_id"],
        "type": "position",
        "occurred_at": world.at(7).isoformat(),
    }
    refused(world.post("aurora-cloud", "/v1/vehicle-events", event), 422, "latitude")
    assert world.ok(world.get("anna", f"/v1/vehicles/{car['id']}"))["position_at"] is None


def test_unknown_brand_is_refused_on_link(world: World) -> None:
    """Linking a car of a brand no adapter speaks for: 422 naming brand, no car stored."""
    body = {
        "brand": "tesla-ish",
        "external_id": "VIN1",
        "make": "T",
        "model": "3",
        "year": 2024,
        "plate": "M-X 1",
        "colour": "white",
        "trunk_volume_l": 400,
    }
    refused(world.post("anna", "/v1/vehicles", body), 422, "brand")
    assert world.ok(world.get("anna", "/v1/vehicles"))["data"] == []
    with world.platform.uow() as session:
        assert session.scalar(select(func.count()).select_from(Vehicle)) == 0


def test_booking_another_customers_car_or_place_is_refused(world: World) -> None:
    """Booking Ben's car or Ben's place for Anna: 404 alike naming the field, nothing booked."""
    bens_car = world.link_car("ben")
    bens_place = world.add_place("ben")
    annas_car = world.link_car("anna")
    annas_place = world.add_place("anna")
    window = (world.at(10), world.at(12))
    refused(
        world.post("shop", "/v1/deliveries", booking(world, bens_car, [(annas_place, *window)])),
        404,
        "vehicle_id",
    )
    refused(
        world.post("shop", "/v1/deliveries", booking(world, annas_car, [(bens_place, *window)])),
        404,
        "itinerary[0].place_id",
    )
    no_deliveries(world)


def test_route_with_a_delivery_twice_is_refused(world: World) -> None:
    """The same delivery twice on one route: 422 naming delivery_ids, no route made."""
    car = world.link_car()
    delivery = world.book(car, [(world.add_place(), 10, 12)])
    body = {
        "driver_id": world.ids["driver"],
        "service_date": world.at(0).date().isoformat(),
        "delivery_ids": [delivery["id"]] * 2,
    }
    refused(world.post("carrier", "/v1/routes", body), 422, "delivery_ids")
    assert world.ok(world.get("carrier", "/v1/routes"))["data"] == []
