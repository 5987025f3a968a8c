"""The OpenAPI document integrators generate clients from: ids that read as verbs, every
error as application/problem+json with its Problem schema, an example for every request
body, and what each tag is about."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.api.problems import PROBLEM


class Problem(BaseModel):
    """An error (RFC 9457): `code` is stable, `field` names the input at fault."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://trunkdrop.dev/problems/invalid_input",
                    "title": "Invalid input",
                    "status": 422,
                    "code": "invalid_input",
                    "detail": "parcel.weight_g: Input should be less than or equal to 1000000",
                    "field": "parcel.weight_g",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    code: str = Field(description="stable: clients branch on it")
    detail: str
    field: str | None = Field(None, description="the input at fault, when one is")
    errors: list[dict[str, Any]] | None = Field(
        None, description="invalid_input: every field at fault"
    )


TAGS = [
    {"name": "deliveries", "description": "Checkout, booking, and the driver at the car: "
     "attempts, the one-time grant, deposit, handover, failure."},
    {"name": "dispatch", "description": "Service areas, routes and stops, planning a day."},
    {"name": "vehicles", "description": "A customer's cars, their consent and blocks; "
     "car makers' reports."},
    {"name": "places", "description": "Where a customer's car stands."},
    {"name": "devices", "description": "Drivers' handsets: registered, approved, revoked."},
    {"name": "parties", "description": "Who calls: the party behind the key, its message "
     "preferences, revoking keys."},
    {"name": "incidents", "description": "What an operator must look at."},
    {"name": "audit", "description": "The hash-chained audit trail."},
    {"name": "events", "description": "The event feed: every published event after a cursor."},
    {"name": "webhooks", "description": "Signed webhooks (Standard Webhooks): endpoints, "
     "their deliveries, replay."},
    {"name": "simulator", "description": "The built-in car simulator (development, tests)."},
    {"name": "health", "description": "Whether the process answers."},
    {"name": "returns", "description": "Returns: the shop authorises one, the customer "
     "books its pickup from the trunk."},
    {"name": "sends", "description": "Sends from the car: postage from the carrier's price "
     "list, the label, the pickup from the trunk."},
    {"name": "consents", "description": "A customer's consent to a shop: OAuth clients, "
     "consents listed and revoked."},
    {"name": "oauth", "description": "OAuth 2 authorisation code + PKCE (RFC 6749, 7636)."},
    {"name": "privacy", "description": "A customer's own data: export and erasure."},
    {"name": "pickup points", "description": "A carrier's pickup points and lockers: where a "
     "parcel nobody could take waits for its customer's code."},
]  # fmt: skip

# Where a view's name alone does not say what it does to what.
OPERATION_IDS = {
    "book": "book_delivery",
    "cancel": "cancel_delivery",
    "challenge": "issue_challenge",
    "act": "act_on_simulated_vehicle",
    "me": "get_me",
    "ingest_event": "ingest_vehicle_event",
    "create_endpoint": "create_webhook_endpoint",
    "list_endpoints": "list_webhook_endpoints",
    "get_endpoint": "get_webhook_endpoint",
    "delete_endpoint": "delete_webhook_endpoint",
    "disable_endpoint": "disable_webhook_endpoint",
    "enable_endpoint": "enable_webhook_endpoint",
    "rotate_secret": "rotate_webhook_secret",
    "replay_delivery": "replay_webhook_delivery",
    "block_access": "block_vehicle_access",
    "unblock_access": "unblock_vehicle_access",
    "give_consent": "give_vehicle_consent",
    "withdraw_consent": "withdraw_vehicle_consent",
    "replan": "replan_day",
    "next_stop": "get_next_stop",
    "health": "get_health",
    "register_client": "register_oauth_client",
    "authorization_request": "get_oauth_authorization_request",
    "decide": "decide_oauth_authorization",
    "token": "exchange_oauth_code",
}

_POSITION = {"latitude": 48.1402, "longitude": 11.56}
_PARCEL = {
    "reference": "PCL-000123",
    "length_cm": 40,
    "width_cm": 30,
    "height_cm": 20,
    "weight_g": 2000,
    "declared_value_cents": 5000,
}
# One example body per request schema (a schema's own example wins).
EXAMPLES: dict[str, Any] = {
    "CheckoutRequest": {"customer_id": "cus_3f9a", "date": "2026-12-01", "parcel": _PARCEL},
    "DeliveryCreate": {
        "customer_id": "cus_3f9a",
        "vehicle_id": "veh_81c2",
        "retailer_reference": "ORD-1001",
        "parcel": _PARCEL,
        "itinerary": [
            {
                "place_id": "plc_77d0",
                "window_start": "2026-12-01T10:00:00+01:00",
                "window_end": "2026-12-01T12:00:00+01:00",
            }
        ],
        "fallback_address": {"address": "Schellingstr. 10, München", **_POSITION},
    },
    "DeliveryMove": {
        "itinerary": [
            {
                "place_id": "plc_77d0",
                "window_start": "2026-12-01T14:00:00+01:00",
                "window_end": "2026-12-01T16:00:00+01:00",
            }
        ]
    },
    "AttemptStart": {
        "position": _POSITION,
        "scanned_parcel_ref": "PCL-000123",
        "device_id": "dev_5b1e",
    },
    "ChallengeRequest": {"device_id": "dev_5b1e"},
    "AccessRequest": {
        "position": _POSITION,
        "device_id": "dev_5b1e",
        "nonce": "n0nc3-value",
        "signature": "c2lnbmF0dXJl",
    },
    "ReturnCreate": {
        "customer_id": "cus_3f9a",
        "order_ref": "ORD-1001",
        "reason": "wrong size",
        "parcel": {k: v for k, v in _PARCEL.items() if k != "reference"},
    },
    "PickupCreate": {
        "vehicle_id": "veh_81c2",
        "itinerary": [
            {
                "place_id": "plc_77d0",
                "window_start": "2026-12-01T10:00:00+01:00",
                "window_end": "2026-12-01T12:00:00+01:00",
            }
        ],
    },
    "DoorPickupCreate": {
        "address": {"address": "Schellingstr. 10, München", **_POSITION},
        "service_date": "2026-12-01",
        "door_window": {"start": "2026-12-01T17:00:00+01:00", "end": "2026-12-01T19:00:00+01:00"},
    },
    "SendCreate": {
        "kind": "letter",
        "parcel": {
            "length_cm": 22,
            "width_cm": 11,
            "height_cm": 1,
            "weight_g": 20,
            "declared_value_cents": 0,
        },
        "recipient": {"name": "Max Muster", "address": "Hauptstr. 1, 80331 Munich"},
    },
    "PickupPointCreate": {
        "name": "Kiosk Schellingstraße",
        "kind": "point",
        "address": "Schellingstr. 20, 80799 München",
        **_POSITION,
        "opening_hours": {
            day: [{"opens": "08:00", "closes": "20:00"}]
            for day in ("mon", "tue", "wed", "thu", "fri", "sat")
        },
        "capacity": 40,
    },
    "PickupPointUpdate": {"capacity": 60},
    "CollectionCreate": {"parcel_ref": "PCL-000123", "code": "40271953"},
    "DepositRequest": {"scanned_parcel_ref": "PCL-000123"},
    "CollectRequest": {"scanned_label": "TDR000123456789"},
    "FailureReport": {"reason": "trunk_full", "detail": "a crate fills the trunk"},
    "AttemptSettlement": {"outcome": "delivered", "note": "the owner found the parcel inside"},
    "IncidentNote": {"note": "the owner locked the car by hand"},
    "ApiKeyRequest": {"label": "Jonas's new phone", "device_id": "dev_5b1e"},
    "ServiceAreaCreate": {
        "name": "Munich",
        "latitude": 48.1374,
        "longitude": 11.5755,
        "radius_m": 15000,
        "depot_latitude": 48.178,
        "depot_longitude": 11.4905,
    },
    "RouteCreate": {
        "driver_id": "dri_42aa",
        "service_date": "2026-12-01",
        "delivery_ids": ["dlv_9e01", "dlv_9e02"],
    },
    "PlanCreate": {"service_date": "2026-12-01", "driver_ids": ["dri_42aa"], "seconds": 5.0},
    "ReplanCreate": {"service_date": "2026-12-01", "seconds": 3.0},
    "SimAction": {"action": "park", **_POSITION},
    "DeviceRegister": {
        "public_key": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "label": "Pixel 8",
    },
    "PlaceCreate": {
        "label": "office",
        **_POSITION,
        "address": "Leopoldstr. 1, München",
        "parking_notes": "level -2, bay 14",
    },
    "PlaceUpdate": {"label": "office", "parking_notes": "level -1, bay 3"},
    "PartyUpdate": {"language": "de", "timezone": "Europe/Berlin", "email": "anna@example.org"},
    "VehicleLink": {
        "brand": "sim-aurora",
        "external_id": "WAUZZZ8V5KA000001",
        "make": "Aurora",
        "model": "Estate",
        "year": 2023,
        "plate": "M-TD 1234",
        "colour": "blue",
        "trunk_volume_l": 450,
    },
    "VehicleEventIn": {
        "event_id": "evt-0001",
        "vehicle_id": "WAUZZZ8V5KA000001",
        "type": "locked",
        "occurred_at": "2026-12-01T10:21:00+01:00",
    },
    "OAuthClientCreate": {"name": "Example Shop", "redirect_uris": ["https://shop.example/cb"]},
    "EndpointCreate": {
        "url": "https://shop.example/hooks/trunkdrop",
        "events": ["delivery.delivered", "delivery.attempt_failed"],
    },
}

# Errors an operation answers beyond what its shape implies.
EXTRA_ERRORS = {"get_next_stop": [404]}

_ERRORS = {
    400: "The request cannot be served as sent.",
    401: "No API key, or an unknown or revoked one.",
    403: "The caller's role or relation to the object does not allow this.",
    404: "No such object (or none the caller may know of).",
    409: "The object's state forbids this now (or an Idempotency-Key reused).",
    422: "Invalid input: `field` names it.",
    500: "Our failure; it has been logged.",
    503: "The database is unavailable; try again.",
}


def install(app: FastAPI) -> None:
    """Serve the document below instead of FastAPI's default (built once, on first read)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=TAGS,
            )
            app.openapi_schema = _honest(spec)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _honest(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            _operation(path, method, operation, schemas)
    return spec


def _operation(path: str, method: str, op: dict[str, Any], schemas: dict[str, Any]) -> None:
    suffix = re.sub(r"\W", "_", path) + "_" + method  # FastAPI: name + path + method
    name = op["operationId"].removesuffix(suffix)
    op["operationId"] = OPERATION_IDS.get(name, name)
    op["summary"] = op["operationId"].replace("_", " ").capitalize()
    op.setdefault("description", op["summary"] + ".")
    codes = [422, 500, 503]
    if op.get("security"):
        codes += [401, 403]
    if "{" in path or "requestBody" in op:  # an id in the path or the body names nothing
        codes.append(404)
    if method != "get":
        codes += [400, 409]
    codes = sorted(set(codes + EXTRA_ERRORS.get(op["operationId"], [])))
    responses = op.setdefault("responses", {})
    for code in codes:
        responses[str(code)] = {
            "description": _ERRORS[code],
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        schema = body.get("schema", {})
        # An optional body is `anyOf: [its schema, null]`: its example is its schema's.
        ref = schema.get("$ref") or next(
            (s["$ref"] for s in schema.get("anyOf", []) if "$ref" in s), ""
        )
        schema_name = ref.rsplit("/", 1)[-1]
        own = schemas.get(schema_name, {}).get("examples")
        body["example"] = own[0] if own else EXAMPLES[schema_name]
