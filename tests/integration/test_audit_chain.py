"""The hash-chained audit trail detects an altered, deleted or inserted entry."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from trunkdrop.access import audit
from trunkdrop.access.models import AuditEntry
from trunkdrop.bootstrap import Platform

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _write(platform: Platform, n: int = 5) -> None:
    with platform.uow() as s:
        for i in range(n):
            audit.append(
                session=s,
                actor="tester",
                action="test.event",
                subject=f"s{i}",
                now=NOW,
                data={"i": i},
            )


def _verify(platform: Platform) -> audit.ChainReport:
    with platform.uow() as s:
        return audit.verify(session=s)


def test_untouched_chain_verifies(platform: Platform) -> None:
    """Entries appended in order form an intact chain."""
    _write(platform)
    report = _verify(platform)
    assert (report.ok, report.entries) == (True, 5)


def test_altered_entry_is_named(platform: Platform) -> None:
    """Changing one entry's data is detected and the entry is named."""
    _write(platform)
    with platform.uow() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(data={"i": 99}))
    report = _verify(platform)
    assert not report.ok
    assert "entry 3 was altered" in report.problems


def test_deleted_entry_is_named(platform: Platform) -> None:
    """Deleting an entry in the middle is detected as missing."""
    _write(platform)
    with platform.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    report = _verify(platform)
    assert not report.ok
    assert any("entry 2 is missing" in p for p in report.problems)


def test_deleted_last_entry_is_detected(platform: Platform) -> None:
    """Cutting the newest entry off is detected through the chain's head."""
    _write(platform)
    with platform.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    assert not _verify(platform).ok


def test_inserted_entry_is_detected(platform: Platform) -> None:
    """An entry forged in between (renumbered chain) does not follow its predecessor."""
    _write(platform)
    with platform.uow() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert last is not None
        s.add(
            AuditEntry(
                seq=6,
                at=NOW,
                actor="mallory",
                action="grant.redeemed",
                subject="x",
                data={},
                prev_hash="f" * 64,
                hash="e" * 64,
            )
        )
    report = _verify(platform)
    assert not report.ok
    assert any("entry 6" in p for p in report.problems)
