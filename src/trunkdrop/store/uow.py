"""The unit of work: the one place that commits. Services only flush."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from trunkdrop.errors import DomainError


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit once when the block ends cleanly, roll back otherwise (see end_transaction)."""
    session = factory()
    try:
        yield session
    except BaseException as e:
        end_transaction(session, e)
        raise
    else:
        end_transaction(session)
    finally:
        session.close()


def end_transaction(session: Session, error: BaseException | None = None) -> bool:
    """Commit when the work went through, or was refused with a fact to keep (an audited
    refused grant, a failed attempt: `DomainError.persist`); roll back otherwise.
    True when it committed. Every way a transaction ends (here, the API's) goes through this.
    """
    keep = error is None or (isinstance(error, DomainError) and error.persist)
    if keep:
        session.commit()
    else:
        session.rollback()
    return keep
