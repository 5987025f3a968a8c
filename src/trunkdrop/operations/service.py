"""Worker heartbeats and the step locks that keep two workers off the same step."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from trunkdrop.operations.models import WorkerHeartbeat


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
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = _lock_key(f"trunkdrop.step.{name}")
    with engine.connect() as conn:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
