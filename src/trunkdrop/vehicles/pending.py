"""Whether a commit queued a command for a car since the dispatcher last looked.

The dispatcher's fast path runs after every request that may have queued work; most of
those queued none, and looking costs a write transaction (SQLite's one write lock). This
hint lets it skip the look. A hint only: the full pass every `worker_interval_s` reads
regardless, so a command queued where this cannot see it (another process) waits for that
pass, never longer.
"""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from trunkdrop.vehicles.models import VehicleCommand

_QUEUED = "trunkdrop.pending.commands"
_waiting = threading.Event()


def take() -> bool:
    """True when a command was queued since the last call (and forget it)."""
    if not _waiting.is_set():
        return False
    _waiting.clear()
    return True


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _flush: UOWTransaction) -> None:
    if any(isinstance(o, VehicleCommand) for o in session.new):
        session.info[_QUEUED] = True


@event.listens_for(Session, "after_commit")
def _tell(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the command is not visible before the commit
    if session.info.pop(_QUEUED, False):
        _waiting.set()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if session.get_nested_transaction() is None:
        session.info.pop(_QUEUED, None)
