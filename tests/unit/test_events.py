"""Every state change is one event: one catalog says what each kind leaves behind, and no
service writes a timeline entry, an audit entry or a message by hand."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trunkdrop.events.domain import RECORDINGS, Event, recording_of

SRC = Path(__file__).resolve().parents[2] / "src" / "trunkdrop"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _event_kinds_in_source() -> set[str]:
    """Every literal `kind=` given to an `Event(...)` in the package (f-strings expanded)."""
    kinds: set[str] = set()
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "Event"):
                continue
            for keyword in node.keywords:
                if keyword.arg != "kind":
                    continue
                for leaf in ast.walk(keyword.value):
                    if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                        kinds.add(leaf.value)
    return kinds


def test_every_kind_the_code_records_is_described() -> None:
    """A kind used in the code but missing from the catalog would fail at run time."""
    used = _event_kinds_in_source()
    fixed = {k for k in used if not k.endswith(".")}  # "vehicle." is an f-string's prefix
    assert fixed, "the scan found no events: it is looking in the wrong place"
    assert fixed <= set(RECORDINGS), sorted(fixed - set(RECORDINGS))


def test_car_report_kinds_all_have_an_entry() -> None:
    """The four car reports audited through `vehicle.{kind}` are all in the catalog."""
    for kind in ("locked", "unlocked", "trunk_opened", "trunk_closed"):
        assert RECORDINGS[f"vehicle.{kind}"].audit == f"vehicle.{kind}"


def test_no_service_writes_the_records_by_hand() -> None:
    """Only events/service.py appends to the audit chain, the timeline or the outbox."""
    by_hand = re.compile(r"audit\.append\(|notify\.emit\(|append_rows\(\s*session,\s*TimelineEntry")
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).as_posix() != "events/service.py"
        and by_hand.search(path.read_text())
    ]
    assert offenders == []


def test_unknown_kind_is_refused() -> None:
    """An event nobody described is a mistake in the code, said in plain words."""
    with pytest.raises(ValueError, match="no recording is described"):
        recording_of(Event(kind="delivery.teleported", at=AT, subject="dlv_1"))


def test_timeline_event_needs_a_delivery_and_words() -> None:
    """A timeline entry without its delivery or its text is refused before anything is written."""
    with pytest.raises(ValueError, match="needs a delivery and text"):
        recording_of(Event(kind="attempt.started", at=AT, subject="att_1", text="at the car"))
    with pytest.raises(ValueError, match="needs a delivery and text"):
        recording_of(Event(kind="attempt.started", at=AT, subject="att_1", delivery_id="dlv_1"))


def test_event_is_frozen() -> None:
    """An event is a value: it cannot be changed after it was built."""
    event = Event(kind="delivery.planned", at=AT, subject="dlv_1")
    with pytest.raises(AttributeError):
        event.kind = "delivery.booked"  # type: ignore[misc]
