"""A proof photo at the open trunk over HTTP: JPEG or PNG told from the bytes, at most
2 MB, kept in the blob store, on the timeline, and shown only to the delivery's parties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from httpx import Response

from tests.support import OFFICE, World
from trunkdrop.blobs.filesystem import FilesystemBlobs

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x42" * 5_000 + b"\xff\xd9"
GIF = b"GIF89a" + b"\x00" * 64


@pytest.fixture
def opened(world: World, tmp_path: Path) -> dict[str, Any]:
    """An attempt at Anna's car whose trunk the car reported open; blobs under tmp_path."""
    world.platform.blobs = FilesystemBlobs(tmp_path / "blobs")
    _, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert read["status"] == "trunk_open"
    return read


def _upload(world: World, attempt_id: str, data: bytes, media_type: str) -> Response:
    headers = {**world.auth("driver"), "Content-Type": media_type}
    return world.client.post(f"/v1/attempts/{attempt_id}/photo", headers=headers, content=data)


def test_the_photo_round_trips_to_every_party_and_lands_on_the_timeline(
    world: World, opened: dict[str, Any]
) -> None:
    """The bytes come back unchanged with the type the bytes say, to shop, carrier,
    customer, driver and operator; the timeline has the photo."""
    # The header says JPEG; the bytes are a PNG, and the bytes win.
    stored = world.ok(_upload(world, opened["id"], PNG, "image/jpeg"), 201)
    assert (stored["media_type"], stored["size_bytes"]) == ("image/png", len(PNG))
    for who in ("anna", "shop", "carrier", "driver", "operator"):
        got = world.get(who, f"/v1/attempts/{opened['id']}/photo")
        assert got.status_code == 200, who
        assert got.content == PNG
        assert got.headers["content-type"] == "image/png"
    delivery = world.ok(world.get("anna", f"/v1/deliveries/{opened['delivery_id']}"))
    assert "photo_taken" in [entry["kind"] for entry in delivery["timeline"]]
    # A second photo replaces the first.
    world.ok(_upload(world, opened["id"], JPEG, "image/jpeg"), 201)
    again = world.get("anna", f"/v1/attempts/{opened['id']}/photo")
    assert (again.content, again.headers["content-type"]) == (JPEG, "image/jpeg")


def test_a_photo_of_another_type_is_refused_and_nothing_is_kept(
    world: World, opened: dict[str, Any]
) -> None:
    """A GIF sent as image/png: 422 unsupported_image_type, and no photo to read."""
    refused = _upload(world, opened["id"], GIF, "image/png")
    assert refused.status_code == 422
    assert refused.json()["code"] == "unsupported_image_type"
    missing = world.get("anna", f"/v1/attempts/{opened['id']}/photo")
    assert (missing.status_code, missing.json()["code"]) == (404, "no_photo")


def test_a_photo_over_two_megabytes_is_refused(world: World, opened: dict[str, Any]) -> None:
    """One byte past 2 MB: 413 payload_too_large, whatever the bytes are."""
    limit = world.platform.settings.proof_photo_max_bytes
    assert limit == 2 * 1024 * 1024
    big = JPEG[:4] + b"\x00" * (limit + 1 - 4)
    refused = _upload(world, opened["id"], big, "image/jpeg")
    assert (refused.status_code, refused.json()["code"]) == (413, "payload_too_large")
    world.ok(_upload(world, opened["id"], big[:limit], "image/jpeg"), 201)


def test_others_cannot_read_the_photo(world: World, opened: dict[str, Any]) -> None:
    """Another shop, another customer, another carrier and another driver get 403."""
    world.ok(_upload(world, opened["id"], PNG, "image/png"), 201)
    for who in ("other-shop", "ben", "other-carrier", "driver2"):
        refused = world.get(who, f"/v1/attempts/{opened['id']}/photo")
        assert refused.status_code == 403, who
        assert refused.content != PNG
    unknown = world.get("anna", "/v1/attempts/att_nope/photo")
    assert unknown.status_code == 404


def test_only_the_attempts_driver_and_only_after_the_trunk_opened(
    world: World, tmp_path: Path
) -> None:
    """Before the car reports the trunk open: 409 trunk_not_opened; another driver: 403."""
    world.platform.blobs = FilesystemBlobs(tmp_path / "blobs")
    _, _, attempt = world.ready_at_car()
    early = _upload(world, attempt["id"], PNG, "image/png")
    assert (early.status_code, early.json()["code"]) == (409, "trunk_not_opened")
    headers = {**world.auth("driver2"), "Content-Type": "image/png"}
    other = world.client.post(f"/v1/attempts/{attempt['id']}/photo", headers=headers, content=PNG)
    assert other.status_code == 403
    assert not (tmp_path / "blobs").exists()
