"""Reading an attempt back, and who may see it."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from trunkdrop.deliveries import lookups
from trunkdrop.deliveries.models import Attempt
from trunkdrop.deliveries.schemas import AttemptRead
from trunkdrop.errors import Forbidden, NotFound
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.base import table_of


def get_attempt(*, session: Session, attempt_id: str) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound(f"no attempt with id {attempt_id!r}", field="attempt_id")
    return attempt


def attempt_read(*, session: Session, party: Party, attempt_id: str) -> AttemptRead:
    """The attempt, as `party` may see it. A driver polls their own attempt many times a
    stop: for a driver it is read as the plain columns the answer shows, in one statement
    past the ORM (whose loading cost more than the read); anyone else is checked through
    the delivery, as `check_attempt_access` does."""
    if party.role != Role.driver:
        attempt = get_attempt(session=session, attempt_id=attempt_id)
        check_attempt_access(session=session, party=party, attempt=attempt)
        return AttemptRead.model_validate(attempt)
    row = session.connection().execute(_ATTEMPT_READ, {"attempt_id": attempt_id}).first()
    if row is None:
        raise NotFound(f"no attempt with id {attempt_id!r}", field="attempt_id")
    if row.driver_id != party.id:
        raise Forbidden("this attempt is another driver's")
    return AttemptRead.model_validate(row)


_ATTEMPT_READ = select(
    table_of(Attempt).c.driver_id, *(table_of(Attempt).c[name] for name in AttemptRead.model_fields)
).where(table_of(Attempt).c.id == bindparam("attempt_id"))


def check_attempt_access(*, session: Session, party: Party, attempt: Attempt) -> None:
    if party.role == Role.driver:
        if attempt.driver_id != party.id:
            raise Forbidden("this attempt is another driver's")
        return
    delivery = lookups.get_delivery(session=session, delivery_id=attempt.delivery_id)
    lookups.check_delivery_access(session=session, party=party, delivery=delivery)
