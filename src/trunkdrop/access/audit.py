"""The audit trail: append-only, each entry committing to the one before (SHA-256 chain)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Executable, bindparam, event, func, select, union_all
from sqlalchemy.orm import Session, SessionTransaction

from trunkdrop.access.models import AuditEntry, AuditHead
from trunkdrop.store.base import table_of

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
) -> None:
    """Record an entry; it is chained and written when the transaction commits.

    Writing at commit keeps the chain's head lock the last lock any transaction takes,
    so appending never deadlocks against the rows a use case locks first.
    """
    record = {
        "actor": actor,
        "action": action,
        "subject": subject,
        "at": now.astimezone(UTC),
        "data": json.loads(json.dumps(data or {}, default=str)),
    }
    # Each entry remembers the savepoint it was recorded in (None: outside any), so that a
    # savepoint rolled back takes its own entries with it, and only those.
    pending = session.info.setdefault(_PENDING, [])
    pending.append((session.get_nested_transaction(), record))


_PENDING = "trunkdrop.audit.pending"


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    # SQLAlchemy also calls this when a savepoint is released: its entries then belong to
    # the transaction around it. The chain is written once, at the outermost commit, so
    # that the head's lock is the transaction's last.
    released = session.get_nested_transaction()
    if released is not None:
        outer = released.parent if released.parent is not None and released.parent.nested else None
        session.info[_PENDING] = [
            (outer if at is released else at, record)
            for at, record in session.info.get(_PENDING, ())
        ]
        return
    pending = [record for _, record in session.info.pop(_PENDING, ())]
    if not pending:
        return
    # The use case's own writes first, so the head is still the last lock taken.
    session.flush()
    # Plain statements on the transaction's connection: the chain is append-only, so the
    # ORM's unit of work (and its bookkeeping, a third of what appending cost) adds nothing.
    connection = session.connection()
    head = connection.execute(_READ_HEAD).first()
    if head is None:
        seq, prev = 0, GENESIS
        connection.execute(_HEAD.insert().values(id=1, seq=0, hash=GENESIS))
    else:
        seq, prev = head.seq, head.hash
    rows = []
    for record in pending:
        seq += 1
        digest = entry_hash(seq=seq, prev=prev, **record)
        rows.append({"seq": seq, "prev_hash": prev, "hash": digest, **record})
        prev = digest
    if len(rows) <= _MOST_IN_ONE and connection.dialect.name == "postgresql":
        # A commit audits a few things (a car's report, a command and its answer): entries
        # and head in one round trip.
        params = {f"{k}_{i}": v for i, row in enumerate(rows) for k, v in row.items()}
        connection.execute(
            _append_and_move_head(len(rows)), {**params, "to_seq": seq, "to_hash": prev}
        )
        return
    connection.execute(_APPEND, rows)
    connection.execute(_MOVE_HEAD, {"to_seq": seq, "to_hash": prev})


# Run at every commit that audits something: built once.
_HEAD = table_of(AuditHead)
_ENTRIES = table_of(AuditEntry)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_APPEND = _ENTRIES.insert()
_MOVE_HEAD = (
    _HEAD.update().where(_HEAD.c.id == 1).values(seq=bindparam("to_seq"), hash=bindparam("to_hash"))
)
# The most entries appended in the head's own statement; more go in an executemany.
_MOST_IN_ONE = 16


def _append_and_move_head(count: int) -> Executable:
    """PostgreSQL: `count` entries appended in a data-modifying WITH of the head's UPDATE
    (entry i's columns bound as `<column>_<i>`). Built once per count."""
    statement = _APPEND_AND_MOVE_HEAD.get(count)
    if statement is None:
        # Rows as a SELECT per entry, not a multi-row VALUES: SQLAlchemy caches the compiled
        # form of the one and compiles the other at every execution.
        columns = list(_ENTRIES.columns)
        rows = [
            select(*(bindparam(f"{c.name}_{i}", type_=c.type) for c in columns))
            for i in range(count)
        ]
        source = rows[0] if count == 1 else union_all(*rows)
        appended = _ENTRIES.insert().from_select([c.name for c in columns], source)
        statement = _MOVE_HEAD.add_cte(appended.cte("appended"))
        _APPEND_AND_MOVE_HEAD[count] = statement
    return statement


_APPEND_AND_MOVE_HEAD: dict[int, Executable] = {}


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous: SessionTransaction) -> None:
    """A rolled-back savepoint takes its own entries with it, and only those (a refused
    grant's savepoint must not take the entries recorded before it); the outermost
    rollback takes all."""
    if not previous.nested:
        session.info.pop(_PENDING, None)
        return
    kept = [(at, record) for at, record in session.info.get(_PENDING, ()) if at is not previous]
    session.info[_PENDING] = kept


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    problems: list[str]
    # The last entry's hash: kept outside the database, it shows a later full rewrite.
    head: str = GENESIS


def verify(*, session: Session) -> ChainReport:
    """Walk the chain; name every altered, missing or inserted entry.

    The head is read first and the walk stops at it: on a busy database, entries appended
    (with their head) while the chain is walked belong to a later state, not to a broken
    one. Entries past the head are then checked against the head as it is at the end.
    """
    problems: list[str] = []
    connection = session.connection()
    head = connection.execute(_HEAD_NOW).first()
    entries = select(AuditEntry).order_by(AuditEntry.seq)
    if head is not None:
        entries = entries.where(AuditEntry.seq <= head.seq)
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in session.scalars(entries).yield_per(1000):
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
    if head is None:
        if count:
            # Entries were appended, so the head was written: its removal hides a cut tail.
            problems.append(f"the chain's head is missing (the chain ends at {expected_seq - 1})")
    elif head.seq != expected_seq - 1 or head.hash != prev:
        problems.append(f"the chain ends at {expected_seq - 1} but its head says {head.seq}")
    else:
        last = connection.execute(_LAST_SEQ).scalar()
        later = connection.execute(_HEAD_NOW).first()
        if last is not None and last > (later.seq if later is not None else head.seq):
            problems.append(f"entry {last} lies past the chain's head ({head.seq})")
    return ChainReport(entries=count, ok=not problems, problems=problems, head=prev)


_HEAD_NOW = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)
_LAST_SEQ = select(func.max(_ENTRIES.c.seq))
