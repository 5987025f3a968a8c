"""Our Problem as PyVRP data, and PyVRP's routes back as our Plan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyvrp

from trunkdrop.dispatch.problem import Place, Plan, Problem, Route
from trunkdrop.dispatch.solver.catalogue import Catalogue, Roads, RoutePool, Visits
from trunkdrop.dispatch.solver.places import route_cost


class Translation:
    """Our Problem as PyVRP ProblemData: one client per reachable place, one mutually
    exclusive client group per stop with more than one place."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        depots = sorted(
            {van.start_depot for van in problem.vehicle_types}
            | {van.end_depot for van in problem.vehicle_types}
        )
        depot_index = {location: number for number, location in enumerate(depots)}
        # Any: PyVRP annotates matrices as ndarray[int], which numpy's own types do not match.
        travel: Any = np.asarray(problem.travel_time, dtype=np.int64)
        cost: Any = np.asarray(problem.cost, dtype=np.int64)

        self.client_location: list[int] = []
        self.stop_of_client: list[int] = []
        clients: list[pyvrp.Client] = []
        groups: list[pyvrp.ClientGroup] = []
        for stop_number, stop in enumerate(problem.stops):
            places = [place for place in stop.places if self._reachable(place, travel)]
            if not places and not stop.required:
                continue  # no van can serve it: the plan leaves it out and says why
            if not places:
                places = list(stop.places)  # hopeless; let the search report it unserved
            alone = len(places) == 1
            group = None if alone else len(groups)
            members: list[int] = []
            for place in places:
                members.append(len(clients))
                self.client_location.append(place.location)
                self.stop_of_client.append(stop_number)
                clients.append(
                    pyvrp.Client(
                        location=place.location,
                        delivery=[stop.demand],
                        pickup=[stop.pickup],
                        service_duration=problem.service_time(place.location),
                        tw_early=place.window.open,
                        tw_late=place.window.close,
                        prize=stop.prize,
                        required=stop.required and alone,
                        group=group,
                    )
                )
            if not alone:
                groups.append(pyvrp.ClientGroup(members, required=stop.required))

        self.data = pyvrp.ProblemData(
            locations=[pyvrp.Location(x=loc.x, y=loc.y) for loc in problem.locations],
            clients=clients,
            depots=[
                pyvrp.Depot(location=location, service_duration=problem.service_time(location))
                for location in depots
            ],
            vehicle_types=[
                pyvrp.VehicleType(
                    num_available=van.count or len(problem.stops),
                    capacity=[van.capacity],
                    start_depot=depot_index[van.start_depot],
                    end_depot=depot_index[van.end_depot],
                    tw_early=van.shift_start,
                    tw_late=van.shift_end,
                    fixed_cost=van.fixed_cost,
                    unit_distance_cost=van.unit_distance_cost,
                    unit_duration_cost=van.unit_duration_cost,
                )
                for van in problem.vehicle_types
            ],
            distance_matrices=[cost],
            duration_matrices=[travel],
            groups=groups,
        )
        self.catalogue = Catalogue(
            data=self.data,
            stop_of_client=tuple(self.stop_of_client),
            required=tuple(stop.required for stop in problem.stops),
            prizes=tuple(stop.prize for stop in problem.stops),
            fleet=tuple(van.count for van in problem.vehicle_types),
            roads=Roads(
                cost=problem.cost,
                travel=problem.travel_time,
                location=tuple(self.client_location),
                service=tuple(client.service_duration for client in clients),
                early=tuple(client.tw_early for client in clients),
                late=tuple(client.tw_late for client in clients),
                vans=tuple(
                    (
                        van.start_depot,
                        van.end_depot,
                        van.shift_start + problem.service_time(van.start_depot),
                        van.shift_end,
                    )
                    for van in problem.vehicle_types
                ),
                prices=tuple(
                    (van.fixed_cost, van.unit_distance_cost, van.unit_duration_cost)
                    for van in problem.vehicle_types
                ),
            ),
        )

    def _reachable(self, place: Place, travel: np.ndarray[Any, Any]) -> bool:
        """Whether some van could leave its depot, serve this place in its window and be
        back in time; places that fail are dropped before the search sees them."""
        service = self.problem.service_time(place.location)
        for van in self.problem.vehicle_types:
            start_service = van.shift_start + self.problem.service_time(van.start_depot)
            arrival = start_service + int(travel[van.start_depot, place.location])
            begin = max(arrival, place.window.open)
            back = begin + service + int(travel[place.location, van.end_depot])
            if begin <= place.window.close and back <= van.shift_end:
                return True
        return False

    def pool_of(self, visits: Sequence[Visits]) -> RoutePool:
        """The routes of one solution, keyed as in the route pool."""
        return {
            (kind, frozenset(self.stop_of_client[c] for c in clients)): (cost, clients)
            for kind, cost, clients in visits
            if clients
        }

    def plan(self, visits: Sequence[Visits]) -> Plan:
        routes: list[Route] = []
        total = 0
        for vehicle_type, _, clients in visits:
            if not clients:
                continue
            locations = tuple(self.client_location[client] for client in clients)
            total += route_cost(self.catalogue.roads, vehicle_type, clients, on_time=False) or 0
            routes.append(Route(vehicle_type=vehicle_type, locations=locations))
        served = {self.stop_of_client[c] for _, _, clients in visits for c in clients}
        total += sum(
            stop.prize
            for number, stop in enumerate(self.problem.stops)
            if not stop.required and number not in served
        )
        return Plan(routes=tuple(routes), cost=total)
