"""Runs one strategy's day through the real platform: parties, checkout and booking, planning,
drivers driving and attempting, cars answering through the simulator adapter, the watchdog.

Only the clock is simulated. Every step calls the same services as production.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from trunkdrop.simulation import pickups, plans, setup
from trunkdrop.simulation.day import STRATEGIES, DayRecord, RunConfig, SimulatedDay
from trunkdrop.simulation.day_events import DayEvents
from trunkdrop.store.base import reproducible_ids

__all__ = ["STRATEGIES", "DayRecord", "RunConfig", "SimulatedDay", "run_strategy"]


def run_strategy(config: RunConfig, progress: Callable[[str, float], None]) -> SimulatedDay:
    """Set the day up, book, plan and run it; the caller closes the day it gets back."""
    day = SimulatedDay(config, progress)
    steps: list[tuple[str, Callable[[SimulatedDay], None]]] = [
        ("set up", setup.set_up),
        ("book", setup.book),
        ("book pickups", pickups.book_pickups),
        ("plan", plans.plan),
        ("run the day", lambda d: DayEvents(d).run()),
    ]
    with reproducible_ids(config.seed * 31 + STRATEGIES.index(config.strategy)):
        for name, step in steps:
            wall, cpu, workers = time.perf_counter(), time.process_time(), os.times()
            step(day)
            day.record.phase_seconds[name] = (
                time.perf_counter() - wall,
                time.process_time() - cpu,
                os.times().children_user - workers.children_user,
            )
    progress("done", 1.0)
    return day
