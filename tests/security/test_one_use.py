"""One use, for real: the ledger's primary key refuses a second redemption, under
concurrency and across a restart; two dispatchers send one unlock once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.security.common import NEAR, dispatch_once, issue_grant, ledger_rows, redeem
from tests.support import World
from trunkdrop.bootstrap import bootstrap
from trunkdrop.deliveries import car_link


def test_replayed_grant_is_refused_as_already_used(world: World) -> None:
    """The same grant redeemed twice: the second is grant_redeemed, the ledger holds one row."""
    vehicle, delivery, attempt = world.ready_at_car()
    grant_id, token = issue_grant(world, vehicle["id"], attempt["id"], delivery["id"])
    key = world.handsets["driver"].public_key
    assert redeem(world, vehicle["id"], token, key, "cmd_1") == "ok"
    assert redeem(world, vehicle["id"], token, key, "cmd_2") == "grant_redeemed"
    assert ledger_rows(world, grant_id) == 1


def test_fifty_concurrent_redemptions_unlock_once(world: World) -> None:
    """Fifty threads redeem one grant at the same moment: exactly one succeeds."""
    vehicle, delivery, attempt = world.ready_at_car()
    grant_id, token = issue_grant(world, vehicle["id"], attempt["id"], delivery["id"])
    key = world.handsets["driver"].public_key
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(
            pool.map(lambda i: redeem(world, vehicle["id"], token, key, f"cmd_{i}"), range(50))
        )
    assert outcomes.count("ok") == 1
    assert ledger_rows(world, grant_id) == 1


def test_used_grant_stays_used_after_a_restart(world: World) -> None:
    """A grant used before a platform restart is refused after it: the ledger is durable."""
    vehicle, delivery, attempt = world.ready_at_car()
    grant_id, token = issue_grant(world, vehicle["id"], attempt["id"], delivery["id"])
    key = world.handsets["driver"].public_key
    assert redeem(world, vehicle["id"], token, key, "cmd_before") == "ok"
    world.platform.close()
    world.platform = bootstrap(world.platform.settings, clock=world.clock, migrate=False)
    try:
        assert redeem(world, vehicle["id"], token, key, "cmd_after") != "ok"
        assert ledger_rows(world, grant_id) == 1
    finally:
        world.platform.close()


def test_two_dispatchers_send_one_unlock(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two dispatchers (two API processes) look for work at the same moment while an unlock
    waits: the car is sent it once. The first claims the command until it commits; the
    second skips it (PostgreSQL) or waits for the first (SQLite's one writer)."""
    _, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    platform = world.platform
    first_read, second_done = threading.Event(), threading.Event()
    commands_to_handle = car_link.vehicles.commands_to_handle

    def first_holds_its_read(**kwargs: Any) -> Any:
        rows = commands_to_handle(**kwargs)
        if not first_read.is_set():
            first_read.set()
            second_done.wait(1.5)  # on SQLite the second cannot read before this commits
        return rows

    monkeypatch.setattr(car_link.vehicles, "commands_to_handle", first_holds_its_read)
    sent: list[str] = []
    submit = platform.simulator.submit

    def counted(brand: str, order: Any, now: Any) -> None:
        sent.append(order.command_id)
        submit(brand, order, now)

    monkeypatch.setattr(platform.simulator, "submit", counted)

    first = threading.Thread(target=dispatch_once, args=(world,))
    first.start()
    assert first_read.wait(10)
    dispatch_once(world)
    second_done.set()
    first.join(20)
    assert sent.count(granted["command_id"]) == 1
