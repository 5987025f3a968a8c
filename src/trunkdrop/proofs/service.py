"""Keep a proof photo for an attempt, and give it only to the delivery's parties."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from trunkdrop.blobs.ports import BlobStore
from trunkdrop.deliveries import attempt_reads
from trunkdrop.deliveries.models import Attempt
from trunkdrop.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party
from trunkdrop.proofs.domain import image_type, photo_key
from trunkdrop.proofs.schemas import PhotoRead


def attach_photo(
    *,
    session: Session,
    blobs: BlobStore,
    driver: Party,
    attempt_id: str,
    data: bytes,
    max_bytes: int,
    now: datetime,
) -> PhotoRead:
    """The driver's photo of the parcel in (or the empty) trunk. Only once the car reported
    the trunk open: before that there is nothing to prove. A second photo replaces the
    first; the timeline keeps both entries."""
    # Locked like every other change to an attempt, so a photo and a deposit queue.
    attempt = session.get(Attempt, attempt_id, with_for_update=True)
    if attempt is None:
        raise NotFound(f"no attempt with id {attempt_id!r}", field="attempt_id")
    if attempt.driver_id != driver.id:
        raise Forbidden("this attempt is another driver's")
    if attempt.trunk_opened_at is None:
        raise Conflict(
            "a proof photo is taken at the open trunk; the car has not reported it open",
            code="trunk_not_opened",
            extra={"attempt_status": attempt.status},
        )
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"a proof photo may be at most {max_bytes} bytes, got {len(data)}")
    media_type = image_type(data)
    if media_type is None:
        raise InvalidInput(
            "a proof photo must be a JPEG or a PNG (told from its bytes, not its header)",
            code="unsupported_image_type",
            field="photo",
        )
    blobs.put(photo_key(attempt.id), data)
    digest = hashlib.sha256(data).hexdigest()
    events.record(
        session=session,
        event=Event(
            kind="attempt.photo_taken",
            at=now,
            subject=attempt.id,
            actor=driver.id,
            delivery_id=attempt.delivery_id,
            facts={"media_type": media_type, "size_bytes": len(data), "sha256": digest},
            text="proof photo taken at the open trunk",
        ),
    )
    return PhotoRead(
        attempt_id=attempt.id,
        delivery_id=attempt.delivery_id,
        media_type=media_type,
        size_bytes=len(data),
        sha256=digest,
        taken_at=now,
    )


def read_photo(
    *, session: Session, blobs: BlobStore, party: Party, attempt_id: str
) -> tuple[bytes, str]:
    """The photo's bytes and media type, for the delivery's parties and the attempt's
    driver only (others: 403; no attempt or no photo: 404)."""
    attempt = attempt_reads.get_attempt(session=session, attempt_id=attempt_id)
    attempt_reads.check_attempt_access(session=session, party=party, attempt=attempt)
    data = blobs.get(photo_key(attempt.id))
    if data is None:
        raise NotFound("this attempt has no proof photo", code="no_photo")
    # Checked when stored; read again from the bytes so the answer never trusts a label.
    return data, image_type(data) or "application/octet-stream"
