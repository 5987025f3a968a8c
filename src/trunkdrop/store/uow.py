"""The unit of work: the one place that commits. Services only flush."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from trunkdrop.errors import DomainError
from trunkdrop.store.engine import read_only_session


@contextmanager
def unit_of_work(
    factory: sessionmaker[Session], *, reads_only: bool = False, autocommit: bool = False
) -> Iterator[Session]:
    """Commit once when the block ends cleanly, roll back otherwise (see end_transaction).
    `reads_only`: a transaction that only reads (see store.engine.READ_ONLY); with
    `autocommit`, plain reads with no transaction around them (`read_only_session`)."""
    session = read_only_session(factory, autocommit=autocommit) if reads_only else factory()
    try:
        yield session
    except BaseException as e:
        end_transaction(session, e)
        raise
    else:
        end_transaction(session)
    finally:
        session.close()


def end_transaction(session: Session, error: BaseException | None = None) -> None:
    """Commit when the work went through, or was refused with a fact to keep (an audited
    refused grant, a failed attempt: `DomainError.persist`); roll back otherwise.
    Every way a transaction ends (here, the API's) goes through this.
    """
    if error is None or (isinstance(error, DomainError) and error.persist):
        session.commit()
    else:
        session.rollback()
