"""The audit trail: append-only, each entry committing to the one before (SHA-256 chain)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.access.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    data: dict[str, Any],
    prev: str,
) -> str:
    body = json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "data": data,
            "prev": prev,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(
    *,
    session: Session,
    actor: str,
    action: str,
    subject: str,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    data = json.loads(json.dumps(data or {}, default=str))
    now = now.astimezone(UTC)
    head = session.scalars(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    seq = head.seq + 1
    digest = entry_hash(
        seq=seq, at=now, actor=actor, action=action, subject=subject, data=data, prev=head.hash
    )
    entry = AuditEntry(
        seq=seq,
        at=now,
        actor=actor,
        action=action,
        subject=subject,
        data=data,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    problems: list[str]


def verify(*, session: Session) -> ChainReport:
    """Walk the chain; name every altered, missing or inserted entry."""
    problems: list[str] = []
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(1000):
        count += 1
        if entry.seq != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next present is {entry.seq})")
        if entry.prev_hash != prev:
            problems.append(f"entry {entry.seq} does not follow the entry before it")
        recomputed = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            subject=entry.subject,
            data=entry.data,
            prev=entry.prev_hash,
        )
        if recomputed != entry.hash:
            problems.append(f"entry {entry.seq} was altered")
        prev, expected_seq = entry.hash, entry.seq + 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        problems.append(f"the chain ends at {expected_seq - 1} but its head says {head.seq}")
    return ChainReport(entries=count, ok=not problems, problems=problems)
