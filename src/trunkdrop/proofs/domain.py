"""What a proof photo may be: JPEG or PNG, told from its first bytes (pure)."""

from __future__ import annotations

# The formats' signatures: a client's Content-Type is only its word, the bytes are the file.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def image_type(data: bytes) -> str | None:
    """The media type of a JPEG or PNG by its magic bytes; None for anything else."""
    for magic, media_type in SIGNATURES:
        if data.startswith(magic):
            return media_type
    return None


def photo_key(attempt_id: str) -> str:
    """Where an attempt's photo is kept in the blob store: one per attempt."""
    return f"attempts/{attempt_id}/photo"
