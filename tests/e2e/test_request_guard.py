"""What is refused before any view runs: NUL characters anywhere in a request, and bodies
over their limit. Both databases answer alike, and nothing is stored."""

from __future__ import annotations

import base64
import json
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


def test_a_nul_in_json_of_another_encoding_is_refused(world: World) -> None:
    """UTF-16 is JSON too (the view reads it): a NUL in it is refused like one in UTF-8."""
    body = json.dumps({"public_key": Handset().public_key, "label": "a\u0000b"})
    response = world.client.post(
        "/v1/devices",
        content=body.encode("utf-16"),
        headers={**world.auth("driver"), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "label"


def test_a_nul_in_a_form_of_another_type_or_in_basic_credentials_is_refused(
    world: World,
) -> None:
    """The token endpoint reads a form whatever its Content-Type; a multipart form is a
    form too; Basic credentials carry a client id. A NUL in any of them: 422."""
    as_text = world.client.post(
        "/oauth/token",
        content=b"grant_type=authorization_code&code=ab%00c",
        headers={"content-type": "text/plain"},
    )
    assert (as_text.status_code, as_text.json()["field"]) == (422, "code")
    multipart = world.client.post(
        "/app/signin", files={"email": (None, "anna\x00@example.org"), "csrf": (None, "x")}
    )
    assert (multipart.status_code, multipart.json()["field"]) == (422, "body")
    basic = base64.b64encode(b"cl\x00x:secret").decode()
    credentials = world.client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "authorization": f"Basic {basic}",
        },
    )
    assert (credentials.status_code, credentials.json()["field"]) == (422, "authorization")


def test_only_the_proof_photo_may_send_more_than_a_megabyte(world: World) -> None:
    """A path that merely ends in /photo (a delivery with the id "photo") gets the general
    limit: 413 before anything reads its 3 MB."""
    response = world.client.patch(
        "/v1/deliveries/photo",
        content=b"x" * (3 * 1024 * 1024),
        headers={**world.auth("shop"), "content-type": "application/json"},
    )
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_a_nul_in_json_too_deep_to_read_is_a_clear_error(world: World) -> None:
    """JSON nested deeper than Python reads, holding a NUL: a 4xx, never a 500."""
    body = b"[" * 100_000 + b'"\\u0000"' + b"]" * 100_000
    response = world.client.post(
        "/v1/devices",
        content=body,
        headers={**world.auth("driver"), "content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
