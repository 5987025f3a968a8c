"""Operator: check the audit chain."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from trunkdrop.access import audit
from trunkdrop.api.deps import CommitInView, Operator, SessionDep

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
