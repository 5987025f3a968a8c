"""Webhook endpoints: register, list, disable, enable, rotate the secret, delete; each
endpoint's messages and tries; replay."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.errors import Conflict, InvalidInput, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.events.models import LoggedEvent
from trunkdrop.parties.models import Party
from trunkdrop.store.base import new_id
from trunkdrop.store.pages import Order, Page, page_of
from trunkdrop.webhooks import sealing, targets
from trunkdrop.webhooks.models import WebhookEndpoint, WebhookMessage, WebhookTry
from trunkdrop.webhooks.schemas import EndpointCreate


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _sealed(secret: str, settings: Settings) -> str:
    return sealing.seal(secret, passphrase=settings.key_passphrase.get_secret_value())


def create_endpoint(
    *,
    session: Session,
    settings: Settings,
    owner: Party,
    endpoint_in: EndpointCreate,
    now: datetime,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (stored only sealed: the caller shows it once)."""
    try:
        targets.check(endpoint_in.url, allow_private=settings.webhooks_allow_private)
    except targets.TargetRefused as e:
        raise InvalidInput(str(e), code="webhook_url_refused", field="url") from e
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=new_id("whe"),
        owner_id=owner.id,
        owner_role=owner.role,
        url=endpoint_in.url,
        event_types=endpoint_in.events,
        secret=_sealed(secret, settings),
        enabled=True,
        created_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def list_endpoints(
    *, session: Session, owner: Party, cursor: str | None = None, limit: int = 100
) -> Page[WebhookEndpoint]:
    """The owner's endpoints, the first registered first, one page."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.owner_id == owner.id)
    return page_of(
        session,
        query,
        order=(Order(WebhookEndpoint.created_at), Order(WebhookEndpoint.id)),
        key=lambda r: (r.created_at, r.id),
        cursor=cursor,
        limit=limit,
    )


def get_endpoint(*, session: Session, owner: Party, endpoint_id: str) -> WebhookEndpoint:
    """The caller's own endpoint; another party's is not found (not even its existence)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id[:64])
    if endpoint is None or endpoint.owner_id != owner.id:
        raise NotFound(f"no webhook endpoint {endpoint_id[:64]!r}", field="endpoint_id")
    return endpoint


def set_enabled(
    *, session: Session, endpoint: WebhookEndpoint, enabled: bool, now: datetime
) -> WebhookEndpoint:
    """Disable (nothing is sent; messages wait) or enable again (the waiting ones go out)."""
    endpoint.enabled = enabled
    endpoint.disabled_at = None if enabled else now
    endpoint.disabled_reason = None if enabled else "disabled by its owner"
    session.flush()
    return endpoint


def rotate_secret(
    *, session: Session, settings: Settings, endpoint: WebhookEndpoint, now: datetime
) -> str:
    """A new secret (answered, stored sealed); the old one signs beside it for
    `webhook_secret_overlap_s`."""
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + timedelta(seconds=settings.webhook_secret_overlap_s)
    endpoint.secret = _sealed(secret, settings)
    session.flush()
    return secret


def delete_endpoint(*, session: Session, endpoint: WebhookEndpoint) -> None:
    messages = select(WebhookMessage.id).where(WebhookMessage.endpoint_id == endpoint.id)
    session.execute(delete(WebhookTry).where(WebhookTry.message_id.in_(messages)))
    session.execute(delete(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()


def list_messages(
    *, session: Session, endpoint: WebhookEndpoint, after: int, limit: int
) -> tuple[list[tuple[WebhookMessage, LoggedEvent, list[WebhookTry]]], bool]:
    """The endpoint's messages by event cursor after `after`, each with its tries."""
    rows = list(
        session.execute(
            select(WebhookMessage, LoggedEvent)
            .join(LoggedEvent, LoggedEvent.id == WebhookMessage.event_id)
            .where(WebhookMessage.endpoint_id == endpoint.id, WebhookMessage.event_id > after)
            .order_by(WebhookMessage.event_id, WebhookMessage.id)
            .limit(limit + 1)
        )
    )
    rows, has_more = rows[:limit], len(rows) > limit
    tries: dict[str, list[WebhookTry]] = {m.id: [] for m, _ in rows}
    if tries:
        for t in session.scalars(
            select(WebhookTry).where(WebhookTry.message_id.in_(list(tries))).order_by(WebhookTry.id)
        ):
            tries[t.message_id].append(t)
    return [(m, e, tries[m.id]) for m, e in rows], has_more


def replay(*, session: Session, owner: Party, message_id: str, now: datetime) -> WebhookMessage:
    """Send a message of one of the owner's endpoints again (same webhook-id), with a fresh
    retry schedule."""
    message = session.get(WebhookMessage, message_id[:64])
    endpoint = None if message is None else session.get(WebhookEndpoint, message.endpoint_id)
    if message is None or endpoint is None or endpoint.owner_id != owner.id:
        raise NotFound(f"no webhook delivery {message_id[:64]!r}", field="webhook_delivery_id")
    if not endpoint.enabled:
        raise Conflict(
            "the endpoint is disabled: enable it first", code="webhook_endpoint_disabled"
        )
    message.status, message.tries, message.ended_at = "pending", 0, None
    message.retry_from = message.next_try_at = now
    session.flush()
    return message


def disable_unreachable(
    *, session: Session, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> None:
    """The retry schedule ran out: the endpoint stops, and its owner is told."""
    if not endpoint.enabled:
        return
    endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason = False, now, reason[:200]
    events.record(
        session=session,
        event=Event(
            kind="webhook_endpoint.disabled",
            at=now,
            subject=endpoint.id,
            facts={"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason[:200]},
            text=f"Your webhook endpoint {endpoint.url} was disabled: {reason[:200]}. "
            "Fix it, enable it again, and replay what it missed.",
            parties=(endpoint.owner_id,),
        ),
    )
