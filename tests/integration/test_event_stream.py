"""An attempt's event stream shows what each commit handed it, in the attempt's order,
and reads the attempt itself only when it was not handed a state."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from tests.support import World
from trunkdrop.api import changes
from trunkdrop.deliveries import views
from trunkdrop.deliveries.attempt_reads import get_attempt
from trunkdrop.deliveries.models import Attempt
from trunkdrop.deliveries.schemas import AttemptRead
from trunkdrop.parties import service as parties


def _statuses(events: list[str]) -> list[str]:
    found = []
    for event in events:
        data = json.loads(event.split("data: ", 1)[1])
        found.append(("end:" if event.startswith("event: end") else "") + data["status"])
    return found


def _stream(world: World, attempt: dict[str, Any], script: Any) -> list[str]:
    """Follow the attempt; after each event the stream yields, run the script's next step."""
    with world.platform.uow() as session:
        driver = parties.get_party(session=session, party_id=world.ids["driver"])

    async def follow() -> list[str]:
        events: list[str] = []
        stream = views._attempt_events(world.platform, driver, attempt["id"], timeout_s=30)
        steps = iter(script)
        async for event in stream:
            events.append(event)
            step = next(steps, None)
            if step is not None:
                step()
        return events

    return asyncio.run(follow())


def _tell(world: World, attempt_id: str, read: AttemptRead | None) -> None:
    for follower in list(changes._followers[(world.platform.engine, attempt_id)]):
        follower(read)


def test_a_stream_shows_the_states_it_is_handed_and_skips_older_ones(world: World) -> None:
    """States handed over by commits are shown without reading them (the database still
    says 'started'); an older state told after a newer one is not shown."""
    _, _, attempt = world.ready_at_car()
    start = AttemptRead.model_validate(attempt)

    def told(status: str) -> AttemptRead:
        return start.model_copy(update={"status": status})

    def after_started() -> None:
        _tell(world, attempt["id"], told("trunk_open"))

    def after_trunk_open() -> None:
        _tell(world, attempt["id"], told("unlocking"))  # late: the attempt is past it
        _tell(world, attempt["id"], told("succeeded"))

    events = _stream(world, attempt, [after_started, after_trunk_open])
    assert _statuses(events) == ["started", "trunk_open", "succeeded", "end:succeeded"]


def test_a_stream_told_of_a_change_it_cannot_see_reads_the_attempt(world: World) -> None:
    """Handed None (the committed state was not all in memory), the stream reads the
    attempt and shows what the database holds."""
    _, _, attempt = world.ready_at_car()

    def fail_behind_the_stream() -> None:
        with world.platform.engine.begin() as connection:
            connection.execute(
                update(Attempt).where(Attempt.id == attempt["id"]).values(status="failed")
            )
        _tell(world, attempt["id"], None)

    events = _stream(world, attempt, [fail_behind_the_stream])
    assert _statuses(events) == ["started", "failed", "end:failed"]


def test_an_attempt_with_expired_fields_is_handed_over_as_none(world: World) -> None:
    """The committed state is taken from memory only: with a field expired (it would need a
    query after the commit), followers are told None instead."""
    _, _, attempt = world.ready_at_car()
    with world.platform.uow() as session:
        loaded = get_attempt(session=session, attempt_id=attempt["id"])
        handed = changes.as_committed(loaded)
        assert handed == AttemptRead.model_validate(attempt)
        assert handed is not None and handed.started_at.utcoffset() == timedelta(0)
        session.expire(loaded, ["status"])
        assert changes.as_committed(loaded) is None


def test_within_a_step_the_state_with_more_facts_is_the_newer(world: World) -> None:
    """Within one step an attempt only gains facts: a state with more is shown, one with
    fewer told after it is skipped as older."""
    _, _, attempt = world.ready_at_car()
    start = AttemptRead.model_validate(attempt)
    later = start.model_copy(update={"access_requested_at": start.started_at})

    def after_started() -> None:
        _tell(world, attempt["id"], later)

    def after_later() -> None:
        _tell(world, attempt["id"], start)  # told late: fewer facts
        _tell(world, attempt["id"], later.model_copy(update={"status": "succeeded"}))

    events = _stream(world, attempt, [after_started, after_later])
    assert _statuses(events) == ["started", "started", "succeeded", "end:succeeded"]
    assert '"access_requested_at":null' not in "".join(events[1:])


def test_two_states_of_one_step_with_the_same_facts_are_settled_by_a_read(
    world: World,
) -> None:
    """Handed a state of the same step with the same facts but other values (which is
    newer cannot be told from them), the stream reads the attempt: the database's state
    is the one it already shows, so nothing new is sent."""
    _, _, attempt = world.ready_at_car()
    start = AttemptRead.model_validate(attempt)
    odd = start.model_copy(update={"started_at": start.started_at + timedelta(seconds=7)})

    def after_started() -> None:
        _tell(world, attempt["id"], odd)
        _tell(world, attempt["id"], start.model_copy(update={"status": "succeeded"}))

    events = _stream(world, attempt, [after_started])
    assert _statuses(events) == ["started", "succeeded", "end:succeeded"]
    assert odd.started_at.isoformat().replace("+00:00", "Z") not in "".join(events)


def test_a_change_heard_from_another_process_hands_its_committed_state(world: World) -> None:
    """The NOTIFY of an attempt's change carries the attempt as written, and a follower
    here is handed that state, not asked to read it (None would make it read)."""
    from trunkdrop.operations import wakeups
    from trunkdrop.store import hints

    _, _, attempt = world.ready_at_car()
    engine = world.platform.engine
    with world.platform.uow() as session:
        loaded = get_attempt(session=session, attempt_id=attempt["id"])
        flushed = hints.Flushed(session, (), (loaded,), ())
        (payload,) = wakeups._payloads(flushed)
    handed: list[AttemptRead | None] = []
    unfollow = changes.follow(engine, attempt["id"], handed.append)
    try:
        wakeups._received(engine, payload)
        wakeups._received(engine, f"attempt:{attempt['id']}")  # a state not in memory
    finally:
        unfollow()
    assert handed == [AttemptRead.model_validate(attempt), None]
