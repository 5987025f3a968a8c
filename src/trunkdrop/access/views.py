"""Operator: check the audit chain, rotate the grant-signing key."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel

from trunkdrop.access import audit
from trunkdrop.access import service as access
from trunkdrop.api.deps import CommitInView, NowDep, Operator, PlatformDep, SessionDep, UnitDep

router = APIRouter(tags=["audit"], route_class=CommitInView)


class ChainRead(BaseModel):
    entries: int
    ok: bool
    problems: list[str]


@router.get("/audit/verify", response_model=ChainRead)
def verify_audit(session: SessionDep, _: Operator) -> ChainRead:
    """Check the audit chain end to end: a changed or deleted entry is reported."""
    report = audit.verify(session=session)
    return ChainRead(entries=report.entries, ok=report.ok, problems=report.problems)


class SigningKeyRead(BaseModel):
    kid: str
    created_at: datetime


@router.post("/keys/rotate", response_model=SigningKeyRead, status_code=status.HTTP_201_CREATED)
async def rotate_signing_key(
    platform: PlatformDep, unit: UnitDep, _: Operator, now: NowDep
) -> SigningKeyRead:
    """Make a new grant-signing key, as `trunkdrop keys rotate` does: new grants are signed
    with it; older keys still verify the grants they signed. 409 `key_passphrase_mismatch`
    when this service's passphrase does not open the current key."""
    passphrase = platform.settings.key_passphrase.get_secret_value()
    made = await unit(
        lambda session: SigningKeyRead.model_validate(
            access.rotate_signing_key(session=session, passphrase=passphrase, now=now),
            from_attributes=True,
        )
    )
    # This process signs with the new key from its next grant (other processes pick it
    # up in their workers' next tick, as after the command).
    await unit(lambda session: platform.keyrings.refresh(session), reads_only=True)
    return made
