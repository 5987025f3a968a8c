"""Whether a commit queued a command for a car since the dispatcher last looked.

The dispatcher's fast path runs after every request that may have queued work; most of
those queued none, and looking costs a write transaction (SQLite's one write lock). This
hint lets it skip the look. A hint only: the full pass every `worker_interval_s` reads
regardless, so a command queued where this cannot see it (another process) waits for that
pass, never longer.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from sqlalchemy.orm import Session

from trunkdrop.store import hints
from trunkdrop.vehicles.models import VehicleCommand

_waiting = threading.Event()


def take() -> bool:
    """True when a command was queued since the last call (and forget it)."""
    if not _waiting.is_set():
        return False
    _waiting.clear()
    return True


def _queued(flushed: hints.Flushed) -> set[Hashable]:
    return {True} if any(isinstance(o, VehicleCommand) for o in flushed.new) else set()


_HINT = "trunkdrop.pending.commands"
hints.after_commit(_HINT, _queued, lambda _: _waiting.set())


def queued_in(session: Session) -> bool:
    """Whether this session's transaction queued a command so far (flushed)."""
    return bool(session.info.get(_HINT))


def claimed_in(session: Session) -> None:
    """The commands this session's transaction queued so far were claimed in it too (the
    dispatcher took a car's reports in and claimed in one transaction): its commit need
    not wake the dispatcher for them."""
    session.info.pop(_HINT, None)


def queued_elsewhere() -> None:
    """Another process queued a command (heard over PostgreSQL NOTIFY)."""
    _waiting.set()
