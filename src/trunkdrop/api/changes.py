"""Which attempts a commit changed, told to the event streams that follow them.

A stream then reads its attempt when it changed instead of on a timer. A hint only: a
stream still re-reads on its own now and then, so a change this misses is shown late,
never lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from trunkdrop.deliveries.models import Attempt

_CHANGED = "trunkdrop.changes.attempts"
_lock = threading.Lock()
_followers: dict[str, set[Callable[[], None]]] = {}


def follow(attempt_id: str, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` (from any thread) after each commit that changed the attempt.

    Returns the function that stops following.
    """
    with _lock:
        _followers.setdefault(attempt_id, set()).add(callback)

    def unfollow() -> None:
        with _lock:
            callbacks = _followers.get(attempt_id)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del _followers[attempt_id]

    return unfollow


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _flush: UOWTransaction) -> None:
    if not _followers:
        return
    changed = {o.id for o in (*session.new, *session.dirty) if isinstance(o, Attempt)}
    if changed:
        session.info.setdefault(_CHANGED, set()).update(changed)


@event.listens_for(Session, "after_commit")
def _tell(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: nobody can read its changes before the commit
    changed = session.info.pop(_CHANGED, None)
    if not changed:
        return
    with _lock:
        callbacks = [c for a in changed for c in _followers.get(a, ())]
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if session.get_nested_transaction() is None:  # a savepoint's rollback keeps the others'
        session.info.pop(_CHANGED, None)
