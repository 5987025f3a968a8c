"""The unit of work: the one place that commits. Services only flush."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from trunkdrop.errors import DomainError


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit once when the block ends cleanly, roll back otherwise."""
    session = factory()
    try:
        yield session
        session.commit()
    except DomainError as e:
        # Some refusals are facts to keep (an audited refused grant, a failed attempt).
        if e.persist:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
