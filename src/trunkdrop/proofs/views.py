"""Driver: a proof photo at the open trunk. The delivery's parties: look at it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status

from trunkdrop.api.deps import AtTheCar, CurrentParty, PlatformDep, UnitDep
from trunkdrop.errors import PayloadTooLarge
from trunkdrop.proofs import service
from trunkdrop.proofs.schemas import PhotoRead

router = APIRouter(tags=["deliveries"])
Id = Annotated[str, Path(max_length=32)]

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_PHOTO_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The photo's bytes: JPEG or PNG (checked from the bytes), at most 2 MB.",
        "content": {"image/jpeg": _BINARY, "image/png": _BINARY},
    }
}


async def _body_within(request: Request, limit: int) -> bytes:
    """The request body, read no further than one byte past `limit`: a client cannot make
    the server hold more than that in memory, whatever its Content-Length says."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"a proof photo may be at most {limit} bytes, got {declared}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"a proof photo may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/attempts/{attempt_id}/photo",
    response_model=PhotoRead,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_PHOTO_BODY,
)
async def take_photo(attempt_id: Id, request: Request, call: AtTheCar) -> PhotoRead:
    """A proof photo of the trunk, once the car reported it open; on the timeline. A later
    photo of the same attempt replaces it (no Idempotency-Key: sending it twice is harmless).
    Not JPEG or PNG: 422 `unsupported_image_type`; over 2 MB: 413 `payload_too_large`."""
    limit = call.settings.proof_photo_max_bytes
    data = await _body_within(request, limit)
    return await call.unit(
        lambda session: service.attach_photo(
            session=session,
            blobs=call.platform.blobs,
            driver=call.driver,
            attempt_id=attempt_id,
            data=data,
            max_bytes=limit,
            now=call.now,
        )
    )


@router.get(
    "/attempts/{attempt_id}/photo",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": _BINARY, "image/png": _BINARY}}},
)
async def get_photo(
    attempt_id: Id, unit: UnitDep, party: CurrentParty, platform: PlatformDep
) -> Response:
    """The attempt's proof photo, for the delivery's shop, carrier and customer, the driver
    of the attempt and operators."""
    data, media_type = await unit(
        lambda session: service.read_photo(
            session=session, blobs=platform.blobs, party=party, attempt_id=attempt_id
        )
    )
    return Response(
        content=data,
        media_type=media_type,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )
