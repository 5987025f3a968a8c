"""Runs one strategy's day through the real platform: parties, checkout and booking, planning,
drivers driving and attempting, cars answering through the simulator adapter, the watchdog.

Only the clock is simulated. Every step calls the same services as production.
"""

from __future__ import annotations

from collections.abc import Callable

from trunkdrop.simulation import pickups, plans, setup
from trunkdrop.simulation.day import STRATEGIES, DayRecord, RunConfig, SimulatedDay
from trunkdrop.simulation.day_events import DayEvents
from trunkdrop.store.base import reproducible_ids

__all__ = ["STRATEGIES", "DayRecord", "RunConfig", "SimulatedDay", "run_strategy"]


def run_strategy(config: RunConfig, progress: Callable[[str, float], None]) -> SimulatedDay:
    """Set the day up, book, plan and run it; the caller closes the day it gets back."""
    day = SimulatedDay(config, progress)
    with reproducible_ids(config.seed * 31 + STRATEGIES.index(config.strategy)):
        setup.set_up(day)
        setup.book(day)
        pickups.book_pickups(day)
        plans.plan(day)
        DayEvents(day).run()
    progress("done", 1.0)
    return day
