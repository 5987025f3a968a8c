"""Who am I: the party behind the presented key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from trunkdrop.api.deps import CommitInView, CurrentParty, NowDep, SessionDep
from trunkdrop.parties import service
from trunkdrop.parties.models import Party
from trunkdrop.parties.schemas import KeysRevoked, PartyRead, PartyUpdate

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
