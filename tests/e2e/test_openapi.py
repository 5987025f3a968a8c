"""The OpenAPI document tells the truth: fuzzed requests against the app never get a 5xx,
and every answer (status, content type, body) is one the document declares."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import DAY_START
from tests.support import World
from trunkdrop.api.app import create_app
from trunkdrop.bootstrap import Platform, bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings

# Who calls which part of the API: the role that may, so that fuzzing reaches past the role
# check into each view.
CALLERS = [
    ("/v1/places", "anna"),
    ("/v1/vehicles", "anna"),
    ("/v1/me", "anna"),
    ("/v1/vehicle-events", "aurora-cloud"),
    ("/v1/sim", "operator"),
    ("/v1/deliveries", "shop"),
    ("/v1/checkout", "shop"),
    ("/v1/webhook", "shop"),
    ("/v1/stops", "driver"),
    ("/v1/attempts", "driver"),
    ("/v1/devices", "driver"),
    ("/v1/routes", "carrier"),
    ("/v1/plans", "carrier"),
    ("/v1/service-areas", "carrier"),
    ("/v1/oauth-clients", "shop"),
    ("/v1/customers", "shop"),
    ("/v1/keys", "operator"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[World]:
    path = tmp_path_factory.mktemp("openapi") / "trunkdrop.db"
    shutil.copy(sqlite_template, path)
    platform: Platform = bootstrap(
        Settings(database_url=f"sqlite:///{path}", environment="test", workers_inline=False),
        clock=ManualClock(DAY_START),
        migrate=False,
    )
    app = create_app(platform, run_workers=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(platform, client, platform.clock)  # type: ignore[arg-type]
    platform.close()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_keeps_to_its_openapi_document(served: World) -> None:
    """No fuzzed request gets a 5xx; every status, content type and body is declared."""
    app: FastAPI = served.client.app  # type: ignore[assignment]
    # The attempt's event stream stays open by design; a fuzzer waiting on it learns nothing.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(
        operation_id="follow_attempt"
    )
    # The OAuth endpoints answer errors as RFC 6749 says (`{"error": ...}`), not as problems.
    schema = schema.exclude(path_regex="^/oauth/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40

    for operation in operations:
        who = next((w for prefix, w in CALLERS if operation.path.startswith(prefix)), "operator")
        _fuzz(operation, served.auth(who, "anna"))  # a shop acts with anna's consent


def _fuzz(operation: Any, headers: dict[str, str]) -> None:
    """A few cases of one operation (bounded: the whole API runs in well under 2 minutes)."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        case.validate_response(case.call(headers=headers), checks=CHECKS)

    call()


def test_every_operation_is_documented_for_generated_clients(served: World) -> None:
    """Readable unique operation ids, a summary and description, problem+json errors, request examples."""
    spec = served.client.get("/openapi.json").json()
    ids = []
    assert {t["name"] for t in spec["tags"]} >= {"deliveries", "webhooks", "events"}
    assert all(t["description"] for t in spec["tags"])
    assert "Problem" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            ids.append(op["operationId"])
            assert "_v1_" not in op["operationId"] and not op["operationId"].endswith(method)
            assert op["summary"] and op["description"], (method, path)
            errors = {c: r for c, r in op["responses"].items() if c[0] in "45"}
            assert {"422", "500"} <= set(errors), (method, path)
            for response in errors.values():
                assert list(response["content"]) == ["application/problem+json"]
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                assert body.get("example"), (method, path)
    assert len(ids) == len(set(ids))
    assert "book_delivery" in ids and "list_webhook_deliveries" in ids
