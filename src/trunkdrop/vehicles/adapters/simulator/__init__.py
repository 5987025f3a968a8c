"""The car simulator: the reference vehicle adapter and the cars behind it.

It plays a car maker's cloud and its cars: `brands` says what each simulated brand can do,
`car` is the cars and their cloud, `adapter` the platform's side of the link, `views` the
operator's controls that play the physical world.
"""

from trunkdrop.vehicles.adapters.simulator.adapter import SimulatorAdapter, SimulatorReportSource
from trunkdrop.vehicles.adapters.simulator.brands import SIM_BRANDS
from trunkdrop.vehicles.adapters.simulator.car import CarSimulator

__all__ = ["SIM_BRANDS", "CarSimulator", "SimulatorAdapter", "SimulatorReportSource"]
