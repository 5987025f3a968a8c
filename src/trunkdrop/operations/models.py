"""Tables: the heartbeats of the `trunkdrop worker` processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    # host:pid of the worker process, unique while it runs.
    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime] = mapped_column(index=True)
    # The step it ran last and whether the last pass had failed steps: for an operator.
    last_step: Mapped[str | None] = mapped_column(String(64), default=None)
    failed_steps: Mapped[str | None] = mapped_column(String(200), default=None)
