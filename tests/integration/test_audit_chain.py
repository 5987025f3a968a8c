"""The hash-chained audit trail detects an altered, deleted or inserted entry."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from trunkdrop.access import audit
from trunkdrop.access.models import AuditEntry, AuditHead
from trunkdrop.bootstrap import Platform
from trunkdrop.store.engine import read_only_session

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


def _note(session: Session, subject: str) -> None:
    audit.append(session=session, actor="tester", action="test.event", subject=subject, now=NOW)


def _subjects(platform: Platform) -> list[str]:
    with platform.uow() as s:
        return list(s.scalars(select(AuditEntry.subject).order_by(AuditEntry.seq)))


def test_a_rolled_back_savepoint_takes_only_its_own_entries(platform: Platform) -> None:
    """Entries recorded before a savepoint, and in an earlier savepoint that was released,
    are written; those of the savepoint rolled back are not; the chain holds."""
    with platform.uow() as s:
        _note(s, "before")
        with s.begin_nested():
            _note(s, "released")
        try:
            with s.begin_nested():
                _note(s, "rolled back")
                raise RuntimeError("refused")
        except RuntimeError:
            pass
        _note(s, "after")
    assert _subjects(platform) == ["before", "released", "after"]
    assert _verify(platform).ok


def test_the_chain_is_written_at_the_outermost_commit_only(platform: Platform) -> None:
    """Releasing a savepoint writes nothing to the chain (its head would then be locked
    before the transaction's other rows); the outermost commit writes it."""
    with platform.uow() as s:
        _note(s, "first")
        with s.begin_nested():
            _note(s, "inner")
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0
    assert _subjects(platform) == ["first", "inner"]


def test_cut_tail_with_the_head_removed_is_named(platform: Platform) -> None:
    """Deleting the last entries and the chain's head row is detected: a chain with entries
    and no head is reported."""
    _write(platform)
    with platform.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq > 2))
        s.execute(delete(AuditHead))
    report = _verify(platform)
    assert not report.ok
    assert any("head is missing" in p for p in report.problems)


def test_entries_appended_during_the_walk_are_not_a_break(platform: Platform) -> None:
    """An append that commits (entries and head) while the chain is walked is a later state,
    not a broken chain: the walk stops at the head it read first."""
    _write(platform, 3)
    with read_only_session(platform.session_factory) as s:
        original = s.scalars

        def appending_scalars(statement: object, *args: object, **kwargs: object) -> object:
            result = original(statement, *args, **kwargs)  # type: ignore[arg-type]
            _write(platform, 2)  # another process appends while this one walks
            return result

        s.scalars = appending_scalars  # type: ignore[method-assign]
        report = audit.verify(session=s)
    assert report.ok, report.problems
    assert report.entries == 3
    assert _verify(platform).entries == 5
