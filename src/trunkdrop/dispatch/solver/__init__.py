"""Plan routes for a Problem with PyVRP and HiGHS; the only package that imports pyvrp.

Each stop is a mutually exclusive PyVRP client group whose members are its reachable
places, required or optional with a prize (an optional stop no van can reach is left out).
A route costs what its van type says: a fixed cost, per distance and per second driven. PyVRP's iterated local search runs from several seeds in parallel
processes (one per core), with each place's neighbourhood widened by its alternatives'
neighbours, and keeps every feasible route it meets, with its places re-chosen jointly by a
small dynamic programme (the search moves one stop's place at a time). After each round a
set-covering model over that route pool, solved with HiGHS, recombines the routes of all
runs; stops the cover serves twice are dropped where that saves most, which gives plans no
partition of the pool holds. The next round restarts most workers from the recombined plan
while one explores afresh, starting on the core the recombination leaves idle, with one van
fewer than the best plan so far uses (plans with fewer routes lie in basins a free search
seldom reaches). A recombination may take up to a cap of a few seconds, since a large pool
often holds a plan better than any search found but its MIP needs that long; the last one
runs on every core, each solving the model over its own choice of columns.

Its stages, one module each: `settings` (the knobs and the log), `catalogue` (what every
stage shares), `model` (our Problem as PyVRP data), `search` (one local search run),
`recombination` (the set-covering model), `places` (choosing places along a route, timing
and pricing it), `processes` (the worker pool) and `rounds` (the solve itself).
"""

from trunkdrop.dispatch.solver.catalogue import RoutePool
from trunkdrop.dispatch.solver.rounds import solve, solve_repeatable, solve_with_log
from trunkdrop.dispatch.solver.settings import RoundLog, SolveLog, SolverSettings

__all__ = [
    "RoundLog",
    "RoutePool",
    "SolveLog",
    "SolverSettings",
    "solve",
    "solve_repeatable",
    "solve_with_log",
]
