"""Worker heartbeats and the step locks that keep two workers off the same step."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from trunkdrop.operations.models import WorkerHeartbeat

log = logging.getLogger(__name__)


def worker_id() -> str:
    """This process's name in `worker_heartbeats`: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def beat(
    *,
    session: Session,
    worker: str,
    started_at: datetime,
    now: datetime,
    last_step: str | None = None,
    failed_steps: list[str] | None = None,
) -> None:
    """Write this worker's heartbeat (one row per worker process, updated in place)."""
    row = session.get(WorkerHeartbeat, worker)
    if row is None:
        row = WorkerHeartbeat(worker_id=worker, started_at=started_at, beat_at=now)
        session.add(row)
    row.beat_at = now
    row.last_step = last_step
    row.failed_steps = ", ".join(failed_steps)[:200] if failed_steps else None
    session.flush()


def latest_beat(*, session: Session) -> datetime | None:
    """When any worker last beat (None: never)."""
    return session.scalar(select(func.max(WorkerHeartbeat.beat_at)))


def forget_silent(*, session: Session, now: datetime, after: timedelta) -> int:
    """Remove the heartbeats of workers silent for `after` (stopped, killed)."""
    rows = session.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - after))
    count = 0
    for row in rows:
        session.delete(row)
        count += 1
    return count


def _lock_key(name: str) -> int:
    # A stable signed 64-bit key per step name (PostgreSQL advisory locks take a bigint).
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


@contextmanager
def step_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True when this process may run step `name` now: on PostgreSQL, when it holds
    the step's advisory lock (no other worker runs it meanwhile; a worker that dies lets go
    with its connection); on SQLite (one process) always."""
    with step_locks(engine, (name,)) as held:
        yield name in held


@contextmanager
def step_locks(engine: Engine, names: Iterable[str]) -> Iterator[frozenset[str]]:
    """The steps of `names` this process may run now (see `step_lock`), their locks taken
    in one statement and let go in one: a worker's pass asks for all of its steps at once
    instead of two round trips and two transactions per step, every pass."""
    wanted = {_lock_key(f"trunkdrop.step.{name}"): name for name in names}
    if engine.dialect.name != "postgresql":
        yield frozenset(wanted.values())
        return
    # Autocommit: a session's advisory lock needs no transaction around it.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        keys = list(wanted)
        held = [int(k) for k in conn.execute(_TRY_LOCKS, {"keys": keys}).scalars()]
        try:
            yield frozenset(wanted[k] for k in held)
        finally:
            if held:
                try:
                    conn.execute(_UNLOCK, {"keys": held})
                except DBAPIError:  # the connection is gone, and its locks with it
                    log.warning("step locks not let go: the connection was lost")


_TRY_LOCKS = text(
    "SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k WHERE pg_try_advisory_lock(k)"
)
_UNLOCK = text("SELECT pg_advisory_unlock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")
