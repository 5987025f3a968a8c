"""Who am I: the party behind the presented key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from trunkdrop.api.deps import CommitInView, CurrentParty, NowDep, SessionDep
from trunkdrop.devices import service as devices
from trunkdrop.errors import Conflict, InvalidInput
from trunkdrop.parties import service
from trunkdrop.parties.models import Party
from trunkdrop.parties.schemas import (
    ApiKeyIssued,
    ApiKeyRequest,
    KeysRevoked,
    PartyRead,
    PartyUpdate,
)

router = APIRouter(tags=["parties"], route_class=CommitInView)


@router.get("/me", response_model=PartyRead)
def me(party: CurrentParty, session: SessionDep) -> PartyRead:
    """The party behind the presented key, with how messages reach it."""
    # Read afresh: the key's party is remembered (api/auth.py), its preferences may be newer.
    return PartyRead.model_validate(session.get(Party, party.id) or party)


@router.patch("/me", response_model=PartyRead)
def update_me(changes: PartyUpdate, party: CurrentParty, session: SessionDep) -> PartyRead:
    """Set the language (en, de), time zone and e-mail address messages to the caller use."""
    return PartyRead.model_validate(
        service.update_preferences(
            session=session, party=party, changes=changes.model_dump(exclude_unset=True)
        )
    )


@router.post("/parties/{party_id}/api-keys/revoke", response_model=KeysRevoked)
def revoke_api_keys(
    party_id: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    party: CurrentParty,
    now: NowDep,
) -> KeysRevoked:
    """Revoke every API key of a party: your own, your driver's (as their carrier), or
    anyone's (as an operator). A lost handset is revoked on its own
    (`POST /v1/devices/{id}/revoke`)."""
    count = service.revoke_api_keys(session=session, by=party, party_id=party_id, now=now)
    return KeysRevoked(party_id=party_id, revoked=count)


@router.post(
    "/parties/{party_id}/api-keys", response_model=ApiKeyIssued, status_code=status.HTTP_201_CREATED
)
def issue_api_key(
    party_id: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    party: CurrentParty,
    body: ApiKeyRequest,
    now: NowDep,
) -> ApiKeyIssued:
    """A new API key for yourself, your driver (as their carrier), or anyone (as an
    operator) — a driver whose phone was stolen gets one without becoming a new party.
    Name the handset it is for and revoking that handset revokes the key too. The key is
    shown only in this answer."""
    device_id = body.device_id
    service.party_whose_keys(session=session, by=party, party_id=party_id)
    if device_id is not None:
        device = devices.get_device(session=session, party=party, device_id=device_id)
        if device.driver_id != party_id:
            raise InvalidInput("that handset is another driver's", field="device_id")
        if device.revoked_at is not None:
            raise Conflict("that handset is revoked", code="device_revoked", field="device_id")
    row, key = service.issue_api_key(
        session=session, by=party, party_id=party_id, now=now, device_id=device_id, label=body.label
    )
    return ApiKeyIssued(
        party_id=row.party_id,
        key_id=row.id,
        prefix=row.prefix,
        label=row.label,
        api_key=key,
        device_id=row.device_id,
        created_at=row.created_at,
    )
