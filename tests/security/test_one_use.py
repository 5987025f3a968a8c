"""One use, for real: the ledger's primary key refuses a second redemption, under
concurrency and across a restart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.security.common import issue_grant, ledger_rows, redeem
from tests.support import World
from trunkdrop.bootstrap import bootstrap


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
