"""The worker processes a solve runs its searches and recombinations in."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

from trunkdrop.dispatch.solver.catalogue import Catalogue

# The problem this worker process was started for (set once, by `init_worker`).
_WORKER: Catalogue | None = None


def worker_catalogue() -> Catalogue | None:
    """What this worker process was started with; None outside a worker."""
    return _WORKER


def init_worker(catalogue: Catalogue) -> None:
    global _WORKER
    _WORKER = catalogue
    # HiGHS greets on stdout when first created; plan output (JSON) must stay clean.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


@contextlib.contextmanager
def worker_pool(workers: int, catalogue: Catalogue) -> Iterator[Executor]:
    # Forking is fastest, and safe while this process runs no other thread (a CLI or the
    # benchmark); inside a threaded server the fork server avoids inheriting held locks.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        method = "fork"
    elif "forkserver" in methods:
        method = "forkserver"
    else:
        method = "spawn"
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=init_worker,
        initargs=(catalogue,),
    )
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
