"""Tell someone in this process what a transaction changed, once it has committed.

Hints only: a reader that misses one (another process made the change) finds it on its
own next look, later, never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from sqlalchemy import event
from sqlalchemy.orm import Session


def after_commit(
    key: str,
    collect: Callable[[Session], set[Hashable]],
    tell: Callable[[set[Hashable]], None],
) -> None:
    """After each flush, keep what `collect` finds in the session (new and dirty objects);
    after the outermost commit, `tell` what was kept; a rollback forgets it. A released
    savepoint tells nobody: nobody can read its changes before the commit."""

    @event.listens_for(Session, "after_flush")
    def _collect(session: Session, _flush: object) -> None:
        found = collect(session)
        if found:
            session.info.setdefault(key, set()).update(found)

    @event.listens_for(Session, "after_commit")
    def _tell(session: Session) -> None:
        if session.get_nested_transaction() is not None:
            return
        found = session.info.pop(key, None)
        if found:
            tell(found)

    @event.listens_for(Session, "after_rollback")
    def _forget(session: Session) -> None:
        if session.get_nested_transaction() is None:  # a savepoint's rollback keeps the others'
            session.info.pop(key, None)
