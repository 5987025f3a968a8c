"""Proof photos' pure parts: the type from the magic bytes, and blob keys that cannot
leave the store's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkdrop.blobs.filesystem import FilesystemBlobs
from trunkdrop.blobs.ports import BadKey
from trunkdrop.proofs.domain import image_type


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xdb rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n rest", "image/png"),
        (b"GIF89a", None),
        (b"\x89PNG", None),  # a truncated signature is not a PNG
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"", None),
    ],
)
def test_image_type_is_read_from_the_bytes(data: bytes, expected: str | None) -> None:
    """Only JPEG and PNG signatures are recognised, whole."""
    assert image_type(data) == expected


def test_filesystem_blobs_round_trip_and_refuse_escaping_keys(tmp_path: Path) -> None:
    """Bytes come back as stored, a missing key is None, and '..' is no key."""
    store = FilesystemBlobs(tmp_path)
    store.put("attempts/att_1/photo", b"abc")
    assert store.get("attempts/att_1/photo") == b"abc"
    assert store.get("attempts/att_2/photo") is None
    with pytest.raises(BadKey):
        store.put("../outside", b"x")
    assert not (tmp_path.parent / "outside").exists()
