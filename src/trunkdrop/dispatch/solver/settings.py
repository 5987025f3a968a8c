"""The search's knobs, and the log of how a solve went round by round."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SolverSettings:
    """Knobs of the search. Defaults were only ever compared on the small instances
    (0-5, 10, 20), never tuned on the benchmark ones.

    rounds: search-then-recombine rounds sharing the budget.
    fresh_rounds: first rounds in which every worker starts from a random plan.
    explorers: workers that start from a random plan in the later rounds too, bringing
        routes from other basins; they start while the previous round's recombination
        runs. The others restart from the recombined plan, or, when that found nothing
        better in the last round, from the best plan an explorer found.
    partition_share, partition_min_seconds: the most time a recombination may take, as a
        share of its round (at least the minimum); time is planned for it from what the
        earlier ones took. Not found by trying values: the small instances recombine in
        milliseconds whatever the cap, so they cannot set it; 0.3 (3 s of a 10 s round) is
        what the MIP over a pool of 10-30 thousand routes needed to reach the pool's
        optimum when one such pool (a benchmark run's, saved and re-solved offline) was
        timed, where the former 0.08 stopped it with a plan of that pool 1% better left
        unfound. Only the worker restarting from the recombined plan waits for it.
    setup_reserve_seconds: kept back for starting processes and building the plan.
    num_neighbours, history_length, max_perturbations: PyVRP's granular neighbourhood
        size, late-acceptance history and perturbation size.
    alternative_neighbours: nearest neighbours of each alternative place added to a
        place's neighbourhood (0 keeps PyVRP's own).
    squeeze_fleet: in the later rounds the explorers get one van fewer than the best plan
        uses (see `squeezed_fleet`).
    scaled_penalties: the ceiling of the penalties for excess load and lateness scaled to
        the problem's cost units (`search.penalty_params`); the second search of
        `flows.solve_and_check`, when the first came back infeasible.
    """

    rounds: int = 3
    fresh_rounds: int = 1
    explorers: int = 1
    partition_share: float = 0.3
    partition_min_seconds: float = 1.0
    setup_reserve_seconds: float = 0.4
    num_neighbours: int = 50
    history_length: int = 300
    max_perturbations: int = 25
    alternative_neighbours: int = 15
    squeeze_fleet: bool = True
    scaled_penalties: bool = False

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"At least one round is needed, got rounds={self.rounds}.")
        counts = {
            "fresh_rounds": self.fresh_rounds,
            "explorers": self.explorers,
            "alternative_neighbours": self.alternative_neighbours,
        }
        for name, value in counts.items():
            if value < 0:
                raise ValueError(f"{name} cannot be negative, got {value}.")
        positive = {
            "num_neighbours": self.num_neighbours,
            "history_length": self.history_length,
            "max_perturbations": self.max_perturbations,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}.")
        if not 0 <= self.partition_share < 1:
            raise ValueError(f"partition_share must be in [0, 1), got {self.partition_share}.")


@dataclass(frozen=True, slots=True)
class RoundLog:
    """What one round achieved: best local-search cost, cost after recombination, pool size."""

    search_cost: int | None
    partition_cost: int | None
    pool_size: int
    search_seconds: float = 0.0
    partition_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SolveLog:
    """How a solve went, round by round."""

    rounds: tuple[RoundLog, ...] = field(default=())
