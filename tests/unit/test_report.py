"""The simulation report is one self-contained page with cards, charts, maps, vans and CSV."""

from __future__ import annotations

import re
from pathlib import Path

from trunkdrop.simulation.report import write_report
from trunkdrop.simulation.run import StrategyOutcome


def _outcome(name: str, success: float, cost: float) -> StrategyOutcome:
    kpis = {
        "first_attempt_success": success, "cost_per_parcel": cost, "km_per_parcel": 1.0,
        "co2_kg_per_parcel": 0.3, "van_hours_per_parcel": 0.1, "failed_by_reason": {"nobody_home": 2},
        "unplanned_by_reason": {"window_unreachable": 1},
    }  # fmt: skip
    van = {"van": 1, "stops": 3, "delivered": 2, "km": 10.0, "hours": 2.0, "waiting_hours": 0.25}
    route = [(48.18, 11.59), (48.15, 11.55), (48.18, 11.59)]
    return StrategyOutcome(name, kpis, {9: 3}, [route], 1.0, [van])


def test_report_needs_no_network_and_compares_with_the_door(tmp_path: Path) -> None:
    """The page embeds the chart libraries (no external script), shows the cost change against door delivery, a van table and a CSV link."""
    page = tmp_path / "day.html"
    outcomes = [_outcome("home", 0.5, 4.0), _outcome("trunk_roaming_home", 0.99, 3.0)]
    write_report(page, customers=10, seed=1, outcomes=outcomes, parameters={"jobs": 1})
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text)
    assert "vegaEmbed('#maps'" in text and "vegaEmbed('#kpis'" in text
    assert '<span class="good">-25.0 %</span>' in text  # cost per parcel 3.0 against 4.0
    assert '<span class="good">+49.0 pp</span>' in text
    assert "<td>0.25</td>" in text  # the van's waiting hours
    assert 'download="trunkdrop-kpis.csv"' in text
    rows = (tmp_path / "day.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "kpi,home,trunk_roaming_home"
    assert "cost_per_parcel,4.0,3.0" in rows
    assert "unplanned_by_reason.window_unreachable,1,1" in rows


def test_headline_says_in_words_which_target_each_strategy_misses(tmp_path: Path) -> None:
    """A strategy dearer than the door is told it misses the cost target, one below 99 % the
    first-attempt target; one meeting both is told so."""
    outcomes = [
        _outcome("home", 0.5, 4.0),
        _outcome("trunk_fixed", 0.97, 4.5),
        _outcome("trunk_roaming_home", 0.995, 3.0),
    ]
    page = tmp_path / "day.html"
    write_report(page, customers=10, seed=1, outcomes=outcomes)
    text = page.read_text(encoding="utf-8")
    assert "<li>home misses first-attempt success 50.0% (target ≥ 99%).</li>" in text
    assert (
        "<li>trunk_fixed misses first-attempt success 97.0% (target ≥ 99%) and cost per "
        "parcel 4.50 EUR (target ≤ door&#x27;s 4.00 EUR).</li>" in text
    )
    assert "<li>trunk_roaming_home meets both targets: first-attempt success 99.5%" in text
