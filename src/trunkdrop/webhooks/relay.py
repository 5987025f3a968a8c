"""The relay: claims webhook messages that are due, signs them (Standard Webhooks), POSTs
them, and records each try; what failed is tried again later, in order per delivery.

A claim is a lease (the message's next try moves `_LEASE` ahead): a relay that dies
mid-send leaves its messages to be sent again after it, never lost, and at most once at a
time. Sending happens outside any transaction.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session, aliased
from standardwebhooks import Webhook

from trunkdrop.config import Settings
from trunkdrop.events import service as events
from trunkdrop.events.models import LoggedEvent
from trunkdrop.store.base import append_rows
from trunkdrop.webhooks import sealing, targets
from trunkdrop.webhooks import service as webhooks
from trunkdrop.webhooks.domain import next_try
from trunkdrop.webhooks.models import WebhookEndpoint, WebhookMessage, WebhookTry

_LEASE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message claimed for sending: where, with which id, which body, which secrets."""

    message_id: str
    url: str
    webhook_id: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    message_id: str
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Poster(Protocol):
    """The port out: POST a body, answer the status code (an error raises)."""

    def post(self, url: str, *, headers: dict[str, str], body: bytes, timeout: float) -> int: ...

    def close(self) -> None: ...


class HttpxPoster:
    """The real poster: one pooled httpx client (keep-alive), never following redirects
    (a redirect could lead to an address the target check refused)."""

    def __init__(self) -> None:
        self._client = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=64))

    def post(self, url: str, *, headers: dict[str, str], body: bytes, timeout: float) -> int:
        response = self._client.post(url, headers=headers, content=body, timeout=timeout)
        return response.status_code

    def close(self) -> None:
        self._client.close()


def sign(outgoing: Outgoing, sent_at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers. `sent_at` is the wall clock: the receiver checks it
    against its own to refuse replays."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id=outgoing.webhook_id, timestamp=sent_at, data=outgoing.body)
        for secret in outgoing.secrets
    )
    return {
        "content-type": "application/json",
        "webhook-id": outgoing.webhook_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
        "user-agent": "trunkdrop-webhooks/1",
    }


def body_of(event: LoggedEvent) -> bytes:
    payload = {
        "type": event.kind,
        "timestamp": event.occurred_at.isoformat(),
        "data": events.event_data(event),
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Relay:
    """Claims, sends, records. One per process; its threads send a batch at once."""

    def __init__(
        self,
        settings: Settings,
        poster: Poster | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._poster = poster
        self._pool: ThreadPoolExecutor | None = None
        self._wall_clock = wall_clock
        self._random = random.Random()

    def _threads(self) -> tuple[Poster, ThreadPoolExecutor]:
        # Made on first use: most processes (and tests) never send a webhook.
        if self._poster is None:
            self._poster = HttpxPoster()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self._settings.webhook_relay_threads, thread_name_prefix="trunkdrop-webhooks"
            )
        return self._poster, self._pool

    def run(self, uow: Callable[[], AbstractContextManager[Session]], now: datetime) -> int:
        """One batch: claim what is due, send it, record the answers; the number sent."""
        with uow() as session:
            batch = claim(session=session, settings=self._settings, now=now)
        if not batch:
            return 0
        poster, pool = self._threads()
        answers = list(pool.map(lambda o: self._send(poster, o), batch))
        with uow() as session:
            settle(
                session=session, settings=self._settings, answers=answers, now=now, rng=self._random
            )
        return len(batch)

    def drain(
        self, uow: Callable[[], AbstractContextManager[Session]], now: datetime, batches: int = 50
    ) -> int:
        """Batches until nothing is due (or `batches` ran); the number sent."""
        sent = 0
        for _ in range(batches):
            n = self.run(uow, now)
            sent += n
            if n < self._settings.webhook_relay_batch:
                break
        return sent

    def _send(self, poster: Poster, outgoing: Outgoing) -> Answer:
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            targets.check(outgoing.url, allow_private=self._settings.webhooks_allow_private)
            headers = sign(outgoing, self._wall_clock())
            status = poster.post(
                outgoing.url,
                headers=headers,
                body=outgoing.body,
                timeout=self._settings.webhook_timeout_s,
            )
        except targets.TargetRefused as e:
            error = f"refused: {e}"
        except httpx.TimeoutException:
            error = f"no answer within {self._settings.webhook_timeout_s:g} s"
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"
        duration_ms = int((time.monotonic() - started) * 1000)
        if status is not None and not 200 <= status < 300:
            error = f"answered {status}"
        return Answer(outgoing.message_id, status, error and error[:300], duration_ms)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        if self._poster is not None:
            self._poster.close()


_earlier = aliased(WebhookMessage)


def claim(*, session: Session, settings: Settings, now: datetime) -> list[Outgoing]:
    """Due messages of enabled endpoints whose delivery has no earlier message to the same
    endpoint still pending (in order per delivery), leased to this relay. Other relays
    skip the rows locked here (PostgreSQL) or wait for the write lock (SQLite)."""
    rows = session.execute(
        select(
            WebhookMessage.id,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookEndpoint.previous_secret,
            WebhookEndpoint.previous_secret_until,
            LoggedEvent,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .join(LoggedEvent, LoggedEvent.id == WebhookMessage.event_id)
        .where(
            WebhookMessage.status == "pending",
            WebhookMessage.next_try_at <= now,
            WebhookEndpoint.enabled.is_(True),
            ~exists().where(
                and_(
                    _earlier.endpoint_id == WebhookMessage.endpoint_id,
                    _earlier.ordering_key == WebhookMessage.ordering_key,
                    _earlier.status == "pending",
                    _earlier.event_id < WebhookMessage.event_id,
                )
            ),
        )
        .order_by(WebhookMessage.next_try_at, WebhookMessage.event_id)
        .limit(settings.webhook_relay_batch)
        .with_for_update(skip_locked=True, of=WebhookMessage)
    ).all()
    batch: list[Outgoing] = []
    passphrase = settings.key_passphrase.get_secret_value()
    for message_id, url, secret, previous, previous_until, event in rows:
        keys = [sealing.unseal(secret, passphrase=passphrase)]
        if previous is not None and previous_until is not None and previous_until > now:
            keys.append(sealing.unseal(previous, passphrase=passphrase))
        batch.append(Outgoing(message_id, url, event.key, body_of(event), tuple(keys)))
    if batch:
        session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id.in_([o.message_id for o in batch]))
            .values(next_try_at=now + _LEASE)
            .execution_options(synchronize_session=False)
        )
    return batch


def settle(
    *,
    session: Session,
    settings: Settings,
    answers: list[Answer],
    now: datetime,
    rng: random.Random,
) -> None:
    """Record each try; a 2xx ends the message, a failure schedules the next try or, when
    the schedule ran out, fails it and disables its endpoint (its owner is told)."""
    append_rows(
        session,
        WebhookTry,
        [
            {
                "message_id": a.message_id,
                "at": now,
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in answers
        ],
    )
    succeeded = [a.message_id for a in answers if a.ok]
    if succeeded:  # the common case, in one statement
        session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id.in_(succeeded), WebhookMessage.status == "pending")
            .values(status="succeeded", ended_at=now, tries=WebhookMessage.tries + 1)
            .execution_options(synchronize_session=False)
        )
    for answer in answers:
        if answer.ok:
            continue
        message = session.get(WebhookMessage, answer.message_id)
        if message is None or message.status != "pending":
            continue  # deleted with its endpoint meanwhile
        message.tries += 1
        again = next_try(
            tries=message.tries,
            retry_from=message.retry_from,
            now=now,
            first_s=settings.webhook_retry_first_s,
            factor=settings.webhook_retry_factor,
            max_wait_s=settings.webhook_retry_max_wait_s,
            retry_for_s=settings.webhook_retry_for_s,
            jitter=rng.random(),
        )
        if again is not None:
            message.next_try_at = again
            continue
        message.status, message.ended_at = "failed", now
        endpoint = session.get(WebhookEndpoint, message.endpoint_id)
        if endpoint is not None:
            webhooks.disable_unreachable(
                session=session,
                endpoint=endpoint,
                reason=f"no 2xx answer in {message.tries} tries ({answer.error})",
                now=now,
            )
    session.flush()
