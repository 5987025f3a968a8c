"""Answering a create once per idempotency key: claim the key in the create's own
transaction, keep the answer, give it again to a retry with the same request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from trunkdrop.errors import Conflict, DomainError, InvalidInput
from trunkdrop.idempotency.models import IdempotentRequest
from trunkdrop.store.base import insert_if_absent
from trunkdrop.webhooks import sealing

M = TypeVar("M", bound=BaseModel)
KEPT = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency key reused"


def fingerprint(*, method: str, path: str, body: bytes) -> str:
    """What makes two requests the same: method, path and the body's JSON, key order and
    spacing aside (a body that is not JSON counts byte for byte)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), canonical])).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable characters",
            field="Idempotency-Key",
        )
    return key


def once(
    *,
    session: Session,
    party_id: str,
    key: str | None,
    fingerprint: str,
    passphrase: str,
    read: type[M],
    create: Callable[[], M],
    now: datetime,
) -> M:
    """`create()`'s answer; with a key used before for the same request, the first answer
    instead, and nothing is created again. A key used for another request is refused (409
    `idempotency_key_reused`). A create that fails does not consume its key."""
    if key is None:
        return create()
    claimed = insert_if_absent(
        session,
        IdempotentRequest,
        {"party_id": party_id, "key": key, "fingerprint": fingerprint, "created_at": now},
    )
    if not claimed:
        return _first_answer(session, party_id, key, fingerprint, passphrase, read)
    try:
        answer = create()
    except DomainError as e:
        if e.persist:  # a refusal that keeps its writes (audited) must not keep the claim
            _forget(session, party_id, key)
        raise
    row = session.get(IdempotentRequest, (party_id, key))
    assert row is not None  # claimed above, in this transaction
    row.response = sealing.seal(answer.model_dump_json(), passphrase=passphrase)
    return answer


def _first_answer(
    session: Session, party_id: str, key: str, fingerprint: str, passphrase: str, read: type[M]
) -> M:
    row = session.scalars(
        select(IdempotentRequest).where(
            IdempotentRequest.party_id == party_id, IdempotentRequest.key == key
        )
    ).one()
    if row.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was used for another request; use a new key",
            field="Idempotency-Key",
        )
    if row.response is None:  # pragma: no cover - the claim commits with its answer
        raise Conflict("a request with this Idempotency-Key is still running", code="conflict")
    return read.model_validate_json(sealing.unseal(row.response, passphrase=passphrase))


def _forget(session: Session, party_id: str, key: str) -> None:
    session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.party_id == party_id, IdempotentRequest.key == key
        )
    )


def sweep(*, session: Session, now: datetime) -> int:
    """Forget keys older than a day; returns how many."""
    result = session.execute(
        delete(IdempotentRequest).where(IdempotentRequest.created_at < now - KEPT)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def forget_party(*, session: Session, party_id: str) -> None:
    """Erasure: the answers kept for a party's retries (they may hold its places) go."""
    session.execute(delete(IdempotentRequest).where(IdempotentRequest.party_id == party_id))
