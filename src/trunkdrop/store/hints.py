"""Tell someone in this process what a transaction changed, once it has committed.

Hints only: a reader that misses one (another process made the change) finds it on its
own next look, later, never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class Flushed:
    """What one flush wrote, worked out once for every hint (`session.dirty` walks the
    whole identity map)."""

    session: Session
    new: tuple[object, ...]
    dirty: tuple[object, ...]
    deleted: tuple[object, ...]


Collect = Callable[[Flushed], set[Hashable]]
Tell = Callable[[set[Hashable]], None]
_hints: dict[str, tuple[Collect, Tell]] = {}


def after_commit(key: str, collect: Collect, tell: Tell) -> None:
    """After each flush, keep what `collect` finds in it; after the outermost commit, `tell`
    what was kept; a rollback forgets it. A released savepoint tells nobody: nobody can
    read its changes before the commit."""
    _hints[key] = (collect, tell)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _flush: object) -> None:
    flushed = Flushed(session, tuple(session.new), tuple(session.dirty), tuple(session.deleted))
    for key, (collect, _) in _hints.items():
        found = collect(flushed)
        if found:
            session.info.setdefault(key, set()).update(found)


@event.listens_for(Session, "after_commit")
def _tell(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return
    for key, (_, tell) in _hints.items():
        found = session.info.pop(key, None)
        if found:
            tell(found)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if session.get_nested_transaction() is None:  # a savepoint's rollback keeps the others'
        for key in _hints:
            session.info.pop(key, None)
