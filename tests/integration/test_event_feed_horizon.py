"""The event feed on PostgreSQL: an event whose transaction commits late is never skipped."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.support import World
from trunkdrop.events.domain import Event
from trunkdrop.events.service import record


def _opened(world: World, subject: str) -> Event:
    return Event(kind="incident.opened", at=world.clock.now(), subject=subject)


def _feed(world: World) -> list[str]:
    page = world.ok(world.get("operator", "/v1/events", params={"after": 0, "limit": 100}))
    return [e["subject"] for e in page["data"]]


def test_a_later_commit_waits_for_the_earlier_id(world: World, database_url: str) -> None:
    """An event recorded first but committed last holds back the ones after it until it commits."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite commits one writer at a time: ids follow commit order")
    early = world.platform.session_factory()
    try:
        record(session=early, event=_opened(world, "inc_early"))
        early.flush()  # the early event has the lower id, but is not committed
        with world.platform.session_factory.begin() as late:
            record(session=late, event=_opened(world, "inc_late"))
        # A reader whose cursor passed the late event would never see the early one.
        assert _feed(world) == []
        early.commit()
    finally:
        early.close()
    assert _feed(world) == ["inc_early", "inc_late"]


def test_another_databases_open_transaction_does_not_stall_the_feed(
    world: World, database_url: str
) -> None:
    """A writing transaction left open in another database of the cluster holds nothing back."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    other = create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
        + "/postgres"
    )
    try:
        with other.connect() as conn:
            conn.execute(text("SELECT pg_current_xact_id()"))  # holds a transaction id open
            with world.platform.session_factory.begin() as session:
                record(session=session, event=_opened(world, "inc_now"))
            assert _feed(world) == ["inc_now"]
            conn.rollback()
    finally:
        other.dispose()
