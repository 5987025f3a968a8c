"""Any party: export its own data. A customer: erase it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from trunkdrop.api.deps import (
    CommitInView,
    CurrentParty,
    Customer,
    NowDep,
    SessionDep,
    SettingsDep,
)
from trunkdrop.privacy import flows

router = APIRouter(tags=["privacy"], route_class=CommitInView)


@router.get("/me/export", response_model=dict[str, Any])
def export_me(session: SessionDep, party: CurrentParty) -> dict[str, Any]:
    """All personal data of the caller as JSON: party, cars, places, consents, deliveries
    with their timelines, messages (GDPR art. 15 and 20)."""
    return flows.export(session=session, party=party)


@router.delete("/me", response_model=dict[str, int])
def erase_me(
    session: SessionDep, settings: SettingsDep, customer: Customer, now: NowDep
) -> dict[str, int]:
    """Erase the caller's personal data (GDPR art. 17): booked deliveries cancelled, cars
    unlinked, places, consents, messages and timeline texts erased, API keys and sessions
    revoked, the account pseudonymised. 409 `delivery_in_progress` while a delivery is out
    for delivery. Answers what was erased, counted."""
    return flows.erase(session=session, settings=settings, party=customer, now=now)
