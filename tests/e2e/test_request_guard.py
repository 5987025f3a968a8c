"""What is refused before any view runs: NUL characters anywhere in a request, and bodies
over their limit. Both databases answer alike, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from tests.support import Handset, World
from trunkdrop.api.request_guard import MAX_BODY_BYTES
from trunkdrop.devices.models import Device


def _devices(world: World) -> int:
    with world.platform.uow() as s:
        return int(s.scalar(select(func.count()).select_from(Device)) or 0)


def test_a_nul_in_a_text_field_is_refused_naming_the_field(world: World) -> None:
    """A NUL in a body's text: 422 naming that field on SQLite and PostgreSQL alike, and
    nothing stored (SQLite would keep it and hand it on)."""
    before = _devices(world)
    response = world.post(
        "driver", "/v1/devices", {"public_key": Handset().public_key, "label": "a\u0000b"}
    )
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["field"]) == ("invalid_input", "label")
    assert _devices(world) == before


def test_a_nul_deep_in_a_body_is_named_by_its_path(world: World) -> None:
    """A NUL in the second id of a list: the field is `delivery_ids[1]`."""
    body = {
        "service_date": world.at(0).date().isoformat(),
        "driver_ids": [world.ids["driver"]],
        "delivery_ids": ["dlv_a", "dlv_\u0000"],
    }
    response = world.post("carrier", "/v1/plans", body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "delivery_ids[1]"


def test_a_nul_in_a_query_parameter_is_refused_by_name(world: World) -> None:
    """A car maker's answer whose `state` holds a NUL: 422 invalid_input naming `state`,
    before anything looks it up."""
    state, code = "s" * 20 + "%00" + "s" * 20, "c" * 24
    response = world.get("anna", f"/v1/vehicle-consents/callback?state={state}&code={code}")
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["field"]) == ("invalid_input", "state")
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_nul_in_a_form_is_refused_by_name(world: World) -> None:
    """The sign-in form with a NUL in the address: 422 naming `email`."""
    response = world.client.post(
        "/app/signin",
        content=b"email=anna%00%40example.org&csrf=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "email"


def test_a_body_over_the_limit_is_refused_whatever_it_declares(world: World) -> None:
    """A body over a megabyte: 413 payload_too_large, declared by its Content-Length or
    streamed in chunks without one; nothing stored."""
    before = _devices(world)
    big = {"public_key": Handset().public_key, "label": "x" * (MAX_BODY_BYTES + 10)}
    declared = world.post("driver", "/v1/devices", big)
    assert declared.status_code == 413, declared.text
    assert declared.json()["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        yield b'{"label": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    streamed = world.client.post(
        "/v1/devices",
        content=chunks(),
        headers={**world.auth("driver"), "content-type": "application/json"},
    )
    assert streamed.status_code == 413, streamed.text
    assert _devices(world) == before


def test_a_body_within_the_limit_reaches_the_view_unchanged(world: World) -> None:
    """Read by the guard, a body still reaches its view whole, streamed or not."""
    key = Handset().public_key

    def chunks() -> Iterator[bytes]:
        yield b'{"public_key": "' + key.encode()
        yield b'", "label": "' + b"y" * 200_000 + b'"}'

    response = world.client.post(
        "/v1/devices",
        content=chunks(),
        headers={**world.auth("driver"), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text  # a label that long is refused by name
    assert response.json()["field"] == "label"
    ok = world.post("driver", "/v1/devices", {"public_key": key, "label": "handset"})
    assert ok.status_code == 201, ok.text
