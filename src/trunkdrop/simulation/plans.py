"""The carrier plans its day: the city cut into zones, each solved side by side, more vans
for a zone the first fleet cannot serve, handsets registered and routes started."""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from cryptography.hazmat.primitives import serialization

from trunkdrop.access.tokens import b64u
from trunkdrop.devices import service as devices
from trunkdrop.devices.schemas import DeviceRegister
from trunkdrop.dispatch import flows as planning
from trunkdrop.dispatch.schemas import PlanCreate
from trunkdrop.dispatch.solver import SolverSettings
from trunkdrop.errors import DomainError
from trunkdrop.parties import service as parties
from trunkdrop.simulation.city import (
    MUNICH_CENTRE,
)
from trunkdrop.simulation.day import (
    STOPS_PER_VAN,
    ZONE_SIZE,
    Driver,
    SimulatedDay,
    party,
)

# A zone's search looks at the 20 nearest places of each place instead of PyVRP's 50: the
# local search (83 % of a 5,000-customer day's time) costs about half as much per iteration,
# and a zone's places are dense enough that farther moves seldom pay. On three zones of
# 220 parcels (seed 1) it took 47 % less CPU for plans 1-6 % dearer; the day's cost per
# parcel moves far less (the vans and hours are set mostly by windows).
ZONE_SEARCH = SolverSettings(num_neighbours=20)


def plan(day: SimulatedDay) -> None:
    """The carrier plans each zone of the city; the zones' problems are solved side by
    side on the machine's cores, then stored, through the same steps as `plan_day`."""
    ids = list(day.customer_of_delivery)
    zones = _zones(day, ids)
    drafts: list[planning.DayDraft | None] = []
    drivers: list[Driver] = []
    with ProcessPoolExecutor(
        max_workers=max(1, min(day.config.planning_jobs, len(zones))),
        mp_context=multiprocessing.get_context("spawn"),
    ) as pool:
        # Each zone is solved as soon as it is drafted, and stored (in zone order) while the
        # later ones are still searched: this process's reading and writing overlaps the
        # searches instead of keeping the cores waiting before and after them. The drafts
        # all come before the first store, as before, so the day's ids are the same.
        solving = []
        for z, zone in enumerate(zones):
            vans = max(1, math.ceil(len(zone) / STOPS_PER_VAN))
            try:
                drafts.append(_draft(day, z, zone, vans))
            except DomainError:
                drafts.append(None)
            solving.append(pool.submit(solve_zone, drafts[-1]))
        for z, (draft, future) in enumerate(zip(drafts, solving, strict=True)):
            drivers.extend(_store_zone(day, z, zones, draft, future.result()))
    day.record.drivers = drivers
    with day.platform.uow() as s:
        for d in drivers:
            public = d.handset.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            d.device_id = devices.register_device(
                session=s,
                driver=party(s, d.party_id),
                now=day.clock.now(),
                device_in=DeviceRegister(public_key=b64u(public), label="handset"),
            ).id
            devices.approve_device(
                session=s,
                party=party(s, day.carrier_id),
                device_id=d.device_id,
                now=day.clock.now(),
            )
    # The vans set off (and have their load checked) when the day runs: `DayEvents`.


def _store_zone(
    day: SimulatedDay,
    z: int,
    zones: list[list[str]],
    draft: planning.DayDraft | None,
    answer: planning.DaySolution | None,
) -> list[Driver]:
    """Store zone `z`'s solved plan; a zone the first fleet could not serve gets more vans."""
    zone = zones[z]
    drivers: list[Driver] = []
    if draft is not None and answer is not None:
        with day.platform.uow() as s:
            day_plan = planning.store_day(
                session=s,
                settings=day.platform.settings,
                carrier=party(s, day.carrier_id),
                draft=draft,
                solved=answer,
                now=day.clock.now(),
            )
            drivers.extend(Driver(r.driver_id, r.id) for r in day_plan.routes)
            day.record.count_unplanned(reason for _, reason in day_plan.unplanned)
    else:
        drivers.extend(_plan_with_more_vans(day, z, zone))
    day.progress("carrier planned its vans", 0.15 + 0.25 * (z + 1) / len(zones))
    return drivers


def _hire(day: SimulatedDay, z: int, vans: int) -> list[str]:
    with day.platform.uow() as s:
        carrier = party(s, day.carrier_id)
        return [
            parties.create_party(
                session=s,
                role="driver",
                name=f"Driver {z}-{i}",
                carrier_id=carrier.id,
                now=day.clock.now(),
            ).id
            for i in range(vans)
        ]


def _plan_in(day: SimulatedDay, zone: list[str], drivers: list[str]) -> PlanCreate:
    return PlanCreate(
        service_date=day.config.day,
        driver_ids=drivers,
        seconds=60.0,
        iterations=day.config.solver_iterations,
        seed=day.config.seed,
        home_as_option=day.config.strategy == "trunk_roaming_home",
        delivery_ids=zone,
    )


def _draft(day: SimulatedDay, z: int, zone: list[str], vans: int) -> planning.DayDraft:
    drivers = _hire(day, z, vans)
    with day.platform.uow() as s:
        return planning.prepare_day(
            session=s,
            settings=day.platform.settings,
            carrier=party(s, day.carrier_id),
            matrix=day.platform.matrix,
            plan_in=_plan_in(day, zone, drivers),
        )


def _plan_with_more_vans(day: SimulatedDay, z: int, zone: list[str]) -> list[Driver]:
    """A zone the first fleet could not serve: more vans, planned in this process."""
    vans = max(1, math.ceil(len(zone) / STOPS_PER_VAN))
    for _ in range(3):
        vans += max(1, vans // 3)
        drivers = _hire(day, z, vans)
        try:
            with day.platform.uow() as s:
                day_plan = planning.plan_day(
                    session=s,
                    settings=day.platform.settings,
                    carrier=party(s, day.carrier_id),
                    matrix=day.platform.matrix,
                    now=day.clock.now(),
                    plan_in=_plan_in(day, zone, drivers),
                )
                day.record.count_unplanned(reason for _, reason in day_plan.unplanned)
                return [Driver(r.driver_id, r.id) for r in day_plan.routes]
        except DomainError:
            continue
    day.record.count_unplanned("no_plan" for _ in zone)
    return []


def _zones(day: SimulatedDay, ids: list[str]) -> list[list[str]]:
    """Cut the city into slices around the centre so each problem stays small."""
    count = max(1, math.ceil(len(ids) / ZONE_SIZE))

    def angle(delivery_id: str) -> float:
        lat, lon = day.customer_of_delivery[delivery_id].home
        return math.atan2(lat - MUNICH_CENTRE[0], (lon - MUNICH_CENTRE[1]) * 0.67)

    ordered = sorted(ids, key=lambda i: (angle(i), i))
    size = math.ceil(len(ordered) / count)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def solve_zone(draft: planning.DayDraft | None) -> planning.DaySolution | None:
    """Solve one zone's drafted day in a worker process; None when no plan fits its vans."""
    if draft is None:
        return None
    try:
        return planning.solve_day(draft, search=ZONE_SEARCH)
    except DomainError:
        return None
