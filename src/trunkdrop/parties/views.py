"""Who am I: the party behind the presented key."""

from __future__ import annotations

from fastapi import APIRouter

from trunkdrop.api.deps import CommitInView, CurrentParty
from trunkdrop.parties.schemas import PartyRead

router = APIRouter(tags=["parties"], route_class=CommitInView)


@router.get("/me", response_model=PartyRead)
def me(party: CurrentParty) -> PartyRead:
    return PartyRead.model_validate(party)
