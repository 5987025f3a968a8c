"""The VRPRDL reader turns published files into Problems and names what is wrong otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trunkdrop.dispatch.instances import (
    InstanceFormatError,
    parse_instance,
    read_instance,
    with_home,
)
from trunkdrop.dispatch.problem import Place, Window


@pytest.fixture(scope="module")
def vrprdl_dir() -> Path:
    """The VRPRDL instances, found as the benchmark finds them; skip when absent."""
    from_env = os.environ.get("TRUNKDROP_VRPRDL_DIR")
    repo = Path(__file__).resolve().parents[3]
    directory = Path(from_env) if from_env else repo.parent / "shared" / "data" / "vrprdl"
    if not directory.is_dir():
        pytest.skip(f"VRPRDL instances not found in {directory}")
    return directory


SMALL = ("0", "1", "2", "3", "4", "5", "10", "20")

TINY = """NAME:\ttiny
TYPE:\tVRPRDL
DIMENSION:\t4
CAPACITY:\t10
TIME_HORIZON:\t100
NUM_CUSTOMERS:\t3
NODE_COORD_SECTION
1\t0.0\t0.0
2\t1.0\t0.0
3\t0.0\t1.0
4\t1.0\t1.0
EDGE_WEIGHT_SECTION
0\t1\t1\t2\t
1\t0\t2\t1\t
1\t2\t0\t1\t
2\t1\t1\t0\t
EDGE_TRAVEL_TIME_SECTION
0\t2\t2\t4\t
2\t0\t4\t2\t
2\t4\t0\t2\t
4\t2\t2\t0\t
TIME_WINDOW_SECTION
1\t0\t100
2\t0\t10
3\t20\t60
4\t5\t90
CLUSTER_SECTION
1\t1\t
2\t2\t3\t
3\t4\t
DEMAND_SECTION
1\t0
2\t4
3\t5
DEPOT_SECTION
1
EOF
"""


def broken(old: str, new: str) -> str:
    """TINY with the first `old` replaced by `new` (which must change the text)."""
    assert old in TINY
    return TINY.replace(old, new, 1)


def test_tiny_instance_becomes_a_problem() -> None:
    """Clusters become stops with one place per location, ids kept 1-based for output."""
    problem = parse_instance(TINY, Path("tiny.vrp"))
    assert problem.name == "tiny"
    assert [location.id for location in problem.locations] == [1, 2, 3, 4]
    assert [stop.name for stop in problem.stops] == ["2", "3"]
    assert problem.stops[0].places == (Place(1, Window(0, 10)), Place(2, Window(20, 60)))
    assert problem.stops[0].demand == 4
    van = problem.vehicle_types[0]
    assert (van.capacity, van.shift_start, van.shift_end, van.start_depot) == (10, 0, 100, 0)
    assert problem.cost[0][3] == 2
    assert problem.travel_time[0][3] == 4


def test_published_instance_0_reads_as_documented(vrprdl_dir: Path) -> None:
    """instance_0 has 62 locations, 15 customers, and its matrices and windows as in the file."""
    problem = read_instance(vrprdl_dir / "instance_0-triangle.vrp")
    assert problem.name == "instance_0-triangle"
    assert len(problem.locations) == 62
    assert len(problem.stops) == 15
    first = problem.stops[0]
    assert first.name == "2"
    assert [problem.locations[place.location].id for place in first.places] == [2, 3, 4, 5, 6]
    assert first.places[0].window == Window(0, 46)
    assert first.demand == 75
    assert problem.cost[0][1] == 70
    assert problem.travel_time[0][1] == 139
    assert problem.vehicle_types[0].capacity == 750
    assert problem.vehicle_types[0].shift_end == 720


@pytest.mark.parametrize("number", SMALL)
def test_every_small_instance_reads(vrprdl_dir: Path, number: str) -> None:
    """Each small instance parses with every location used by the depot or one stop."""
    problem = read_instance(vrprdl_dir / f"instance_{number}-triangle.vrp")
    assert len(problem.place_at) == len(problem.locations) - 1
    assert all(stop.places for stop in problem.stops)


def test_missing_file_is_named() -> None:
    """A file that cannot be opened gives an InstanceFormatError naming it."""
    with pytest.raises(InstanceFormatError, match=r"nowhere\.vrp: cannot read the file"):
        read_instance(Path("nowhere.vrp"))


def test_non_integer_cost_names_the_line() -> None:
    """A cost entry that is no whole number is reported with its line number."""
    text = broken("0\t1\t1\t2\t", "0\tx\t1\t2\t")
    with pytest.raises(InstanceFormatError, match=r"t\.vrp, line 13: .* whole number, got 'x'"):
        parse_instance(text, Path("t.vrp"))


def test_short_matrix_row_names_the_line() -> None:
    """A travel-time row with too few entries is reported with its line."""
    text = broken("2\t0\t4\t2\t", "2\t0\t4\t")
    with pytest.raises(InstanceFormatError, match=r"line 19: EDGE_TRAVEL_TIME_SECTION .* 4 values"):
        parse_instance(text, Path("t.vrp"))


def test_missing_section_is_named() -> None:
    """Leaving out a section says which one."""
    text = TINY.replace("DEMAND_SECTION\n1\t0\n2\t4\n3\t5\n", "")
    with pytest.raises(InstanceFormatError, match="section DEMAND_SECTION is missing"):
        parse_instance(text, Path("t.vrp"))


def test_missing_header_is_named() -> None:
    """Leaving out a header says which one."""
    text = broken("CAPACITY:\t10\n", "")
    with pytest.raises(InstanceFormatError, match="header CAPACITY is missing"):
        parse_instance(text, Path("t.vrp"))


def test_window_closing_before_opening_names_the_line() -> None:
    """An impossible window in the file is reported at its line."""
    text = broken("3\t20\t60", "3\t70\t60")
    with pytest.raises(InstanceFormatError, match=r"line 25: .*cannot close \(60\)"):
        parse_instance(text, Path("t.vrp"))


def test_cluster_with_unknown_location_is_refused() -> None:
    """A cluster naming a location beyond DIMENSION is reported."""
    text = broken("3\t4\t\n", "3\t9\t\n")
    with pytest.raises(InstanceFormatError, match=r"location id 9 is outside 1\.\.4"):
        parse_instance(text, Path("t.vrp"))


def test_wrong_number_of_coordinates_is_refused() -> None:
    """DIMENSION and the coordinate lines must agree."""
    text = broken("DIMENSION:\t4", "DIMENSION:\t5")
    with pytest.raises(InstanceFormatError, match="NODE_COORD_SECTION has 4 lines but 5"):
        parse_instance(text, Path("t.vrp"))


def test_garbage_before_sections_is_refused() -> None:
    """Text that is neither a known header nor a section is reported with its line."""
    with pytest.raises(InstanceFormatError, match=r"line 1: expected a header"):
        parse_instance("hello world\n" + TINY, Path("t.vrp"))


def test_demand_no_van_can_carry_is_refused() -> None:
    """Problem validation errors surface as InstanceFormatError naming the file."""
    text = broken("3\t5\nDEPOT", "3\t50\nDEPOT")
    with pytest.raises(InstanceFormatError, match=r"t\.vrp: Stop '3' needs 50"):
        parse_instance(text, Path("t.vrp"))


def test_format_error_is_a_value_error() -> None:
    """Callers may catch ValueError for any unreadable instance."""
    assert issubclass(InstanceFormatError, ValueError)


def test_vrphrdl_instance_offers_the_home_as_one_more_place(vrprdl_dir: Path) -> None:
    """Built from instance 0, each customer gets exactly one more place: a copy of its
    itinerary's first place, open the whole horizon, with that place's costs and times."""
    problem = read_instance(vrprdl_dir / "instance_0-triangle.vrp")
    homes = with_home(problem)
    assert len(homes.locations) == len(problem.locations) + len(problem.stops)
    horizon = Window(problem.vehicle_types[0].shift_start, problem.vehicle_types[0].shift_end)
    for before, after in zip(problem.stops, homes.stops, strict=True):
        assert after.places[:-1] == before.places
        home, first = after.places[-1].location, before.places[0].location
        assert after.places[-1].window == horizon
        assert homes.cost[0][home] == problem.cost[0][first]
        assert homes.travel_time[home][0] == problem.travel_time[first][0]
        assert homes.locations[home].x == problem.locations[first].x
