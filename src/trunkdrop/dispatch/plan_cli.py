"""`trunkdrop plan`: solve one VRPRDL instance file, check the plan, print it."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from trunkdrop.dispatch.checker import check_plan
from trunkdrop.dispatch.instances import InstanceFormatError, read_instance
from trunkdrop.dispatch.solver import solve
from trunkdrop.dispatch.unserved import unserved_stops

# 15 customers, solved in a second or two: what `trunkdrop plan` runs with no file given
# (its source is cited in samples/README.md).
SAMPLE = Path(__file__).parent / "samples" / "instance_3-triangle.vrp"
USAGE_ERROR = 2
INFEASIBLE = 1


def plan_command(instance_file: Path, seconds: float, seed: int, json_output: bool) -> int:
    """Plan `instance_file` within `seconds`; print routes (file ids) and the checked cost.

    Returns 0 for a feasible plan, 1 when the checker rejects it, 2 for bad input.
    """
    if not (math.isfinite(seconds) and seconds > 0):
        print(f"error: --seconds must be a positive number, got {seconds}", file=sys.stderr)
        return USAGE_ERROR
    if not instance_file.is_file():
        print(f"error: instance file {instance_file} does not exist", file=sys.stderr)
        return USAGE_ERROR
    try:
        problem = read_instance(instance_file)
    except InstanceFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR

    started = time.perf_counter()
    plan = solve(problem, seconds=seconds, seed=seed)
    elapsed = time.perf_counter() - started
    report = check_plan(problem, plan)
    routes = [
        [problem.locations[location].id for location in route.locations] for route in plan.routes
    ]
    # Per route, what each stop does to the van's load: a delivery leaves, a pickup joins.
    loads = [
        [
            "pickup" if problem.stops[problem.place_at[location][0]].pickup else "delivery"
            for location in route.locations
        ]
        for route in plan.routes
    ]
    unplanned = [
        {"stop": problem.stops[number].name, "reason": str(reason)}
        for number, reason in sorted(unserved_stops(problem, plan).items())
    ]

    if json_output:
        document = {
            "instance": problem.name,
            "cost": report.cost,
            "feasible": report.feasible,
            "routes": routes,
            "loads": loads,
            "unplanned": unplanned,
            "seconds": round(elapsed, 3),
        }
        print(json.dumps(document))
    else:
        verdict = "feasible" if report.feasible else "NOT feasible"
        print(
            f"{problem.name}: cost {report.cost}, {len(routes)} routes, {verdict} "
            f"(checked), {elapsed:.1f} s"
        )
        for number, ids in enumerate(routes, start=1):
            print(f"route {number}: {' '.join(str(location) for location in ids)}")
        for entry in unplanned:
            print(f"unplanned: stop {entry['stop']} ({entry['reason']})")
    for violation in report.violations:
        print(f"violation: {violation}", file=sys.stderr)
    return 0 if report.feasible else INFEASIBLE
