"""Solve every VRPRDL instance with a published best value and report our gap to it.

Usage: python benchmarks/vrprdl.py [--seconds 30] [--only 41-v1,instance_30] [--data DIR]

The data directory defaults to ../shared/data/vrprdl beside the repository, or
$TRUNKDROP_VRPRDL_DIR. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from trunkdrop.dispatch.checker import check_plan
from trunkdrop.dispatch.instances import read_instance
from trunkdrop.dispatch.solver import solve

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vrprdl"


@dataclass(frozen=True, slots=True)
class Result:
    """One instance's outcome against the published best."""

    instance: str
    customers: int
    published_best: int
    ours: int
    gap_percent: float
    seconds: float
    feasible: bool


def data_dir(option: str | None) -> Path:
    """The instance directory: the --data option, then $TRUNKDROP_VRPRDL_DIR, then default."""
    if option:
        return Path(option)
    from_env = os.environ.get("TRUNKDROP_VRPRDL_DIR")
    return Path(from_env) if from_env else DEFAULT_DATA


def published(directory: Path) -> list[dict[str, str]]:
    """Rows of published_best.csv, in file order."""
    with (directory / "published_best.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run_one(directory: Path, row: dict[str, str], seconds: float, seed: int) -> Result:
    """Solve one instance, check the plan independently, compare with the published best."""
    problem = read_instance(directory / f"{row['instance']}.vrp")
    started = time.perf_counter()
    plan = solve(problem, seconds=seconds, seed=seed)
    elapsed = time.perf_counter() - started
    report = check_plan(problem, plan)
    best = int(row["published_best"])
    return Result(
        instance=row["instance"],
        customers=len(problem.stops),
        published_best=best,
        ours=report.cost,
        gap_percent=round(100.0 * (report.cost - best) / best, 3),
        seconds=round(elapsed, 2),
        feasible=report.feasible,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table, the summary and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="budget per instance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated parts of instance names")
    parser.add_argument("--data", default=None, help="directory holding the instances")
    args = parser.parse_args(argv)
    if not args.seconds > 0:
        parser.error("--seconds must be positive")

    directory = data_dir(args.data)
    if not (directory / "published_best.csv").is_file():
        print(f"error: no published_best.csv in {directory}", file=sys.stderr)
        return 2
    wanted = [part for part in args.only.split(",") if part]
    rows = [
        row
        for row in published(directory)
        if not wanted or any(part in row["instance"] for part in wanted)
    ]

    header = (
        f"{'instance':<22}{'cust':>5}{'published':>10}{'ours':>8}{'gap %':>8}{'sec':>7}  feasible"
    )
    print(header)
    results: list[Result] = []
    for row in rows:
        result = run_one(directory, row, args.seconds, args.seed)
        results.append(result)
        print(
            f"{result.instance:<22}{result.customers:>5}{result.published_best:>10}"
            f"{result.ours:>8}{result.gap_percent:>8.3f}{result.seconds:>7.1f}  {result.feasible}",
            flush=True,
        )

    if not results:
        print("no instance matched", file=sys.stderr)
        return 2
    gaps = [result.gap_percent for result in results]
    mean_gap = round(sum(gaps) / len(gaps), 3)
    worst_gap = round(max(gaps), 3)
    beaten = [result.instance for result in results if result.ours < result.published_best]
    matched = [result.instance for result in results if result.ours == result.published_best]
    infeasible = [result.instance for result in results if not result.feasible]
    print(f"mean gap {mean_gap:.3f}%  worst gap {worst_gap:.3f}%  over {len(results)} instances")
    print(f"matched {len(matched)}, beaten {len(beaten)}: {', '.join(beaten) or 'none'}")
    if infeasible:
        print(f"INFEASIBLE per checker: {', '.join(infeasible)}")
    summary = {
        "seconds": args.seconds,
        "seed": args.seed,
        "mean_gap": mean_gap,
        "worst_gap": worst_gap,
        "beaten": beaten,
        "matched": matched,
        "infeasible": infeasible,
        "results": [asdict(result) for result in results],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
