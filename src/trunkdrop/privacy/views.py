"""Any party: export its own data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from trunkdrop.api.deps import CommitInView, CurrentParty, SessionDep
from trunkdrop.privacy import flows

router = APIRouter(tags=["privacy"], route_class=CommitInView)


@router.get("/me/export", response_model=dict[str, Any])
def export_me(session: SessionDep, party: CurrentParty) -> dict[str, Any]:
    """All personal data of the caller as JSON: party, cars, places, consents, deliveries
    with their timelines, messages (GDPR art. 15 and 20)."""
    return flows.export(session=session, party=party)
