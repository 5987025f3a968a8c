"""The `Idempotency-Key` header of the creating POSTs: the same key and request are
answered once (idempotency.service), whatever the retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.idempotency import service as idempotency
from trunkdrop.parties.models import Party

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Keyed:
    """The request's idempotency key (None: none sent) and what makes it this request."""

    key: str | None
    fingerprint: str

    def once(
        self,
        *,
        session: Session,
        party: Party,
        settings: Settings,
        now: datetime,
        read: type[M],
        create: Callable[[], M],
    ) -> M:
        return idempotency.once(
            session=session,
            party_id=party.id,
            key=self.key,
            fingerprint=self.fingerprint,
            passphrase=settings.key_passphrase.get_secret_value(),
            read=read,
            create=create,
            now=now,
        )


async def idempotency_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=idempotency.MAX_KEY_LENGTH,
            description="Any unique string (a UUID): a retry with the same key and body is "
            "answered with the first answer and creates nothing; the same key with another "
            "body is a 409 `idempotency_key_reused`. Keys are kept 24 h.",
        ),
    ] = None,
) -> Keyed:
    if key is None:
        return Keyed(None, "")
    body = await request.body()  # cached: the body parameter reads the same bytes
    return Keyed(
        idempotency.check_key(key),
        idempotency.fingerprint(method=request.method, path=request.url.path, body=body),
    )


IdempotencyKey = Annotated[Keyed, Depends(idempotency_key)]
