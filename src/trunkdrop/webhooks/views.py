"""Webhook endpoints of shops, carriers and operators: each party manages its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from trunkdrop.api.deps import CommitInView, NowDep, SessionDep, SettingsDep, role
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.events.models import LoggedEvent
from trunkdrop.parties.models import Party, Role
from trunkdrop.webhooks import service
from trunkdrop.webhooks.models import WebhookEndpoint, WebhookMessage, WebhookTry
from trunkdrop.webhooks.schemas import (
    EndpointCreate,
    EndpointPage,
    EndpointRead,
    EndpointWithSecret,
    MessagePage,
    MessageRead,
    TryRead,
)

router = APIRouter(tags=["webhooks"], route_class=CommitInView)
Subscriber = Annotated[Party, Depends(role(Role.retailer, Role.carrier, Role.operator))]
EndpointId = Annotated[str, Path(max_length=64)]


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> EndpointWithSecret:
    read = EndpointRead.model_validate(endpoint)
    return EndpointWithSecret(**read.model_dump(), secret=secret)


@router.post("/webhook-endpoints", response_model=EndpointWithSecret, status_code=201)
def create_endpoint(
    endpoint_in: EndpointCreate,
    session: SessionDep,
    settings: SettingsDep,
    owner: Subscriber,
    now: NowDep,
    keyed: IdempotencyKey,
) -> EndpointWithSecret:
    """Register a URL for the given event types. The signing secret is in this answer only
    (and in its replay to the same `Idempotency-Key` within 24 h)."""

    def create() -> EndpointWithSecret:
        endpoint, secret = service.create_endpoint(
            session=session, settings=settings, owner=owner, endpoint_in=endpoint_in, now=now
        )
        return _with_secret(endpoint, secret)

    return keyed.once(
        session=session,
        party=owner,
        settings=settings,
        now=now,
        read=EndpointWithSecret,
        create=create,
    )


@router.get("/webhook-endpoints", response_model=EndpointPage)
def list_endpoints(session: SessionDep, owner: Subscriber, page: PageParams) -> EndpointPage:
    """The caller's webhook endpoints, the first registered first."""
    found = service.list_endpoints(
        session=session, owner=owner, cursor=page.cursor, limit=page.limit
    )
    return page_read(EndpointPage, found, EndpointRead.model_validate)


@router.get("/webhook-endpoints/{endpoint_id}", response_model=EndpointRead)
def get_endpoint(endpoint_id: EndpointId, session: SessionDep, owner: Subscriber) -> EndpointRead:
    """One of the caller's webhook endpoints (without its secret)."""
    return EndpointRead.model_validate(
        service.get_endpoint(session=session, owner=owner, endpoint_id=endpoint_id)
    )


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: EndpointId, session: SessionDep, owner: Subscriber) -> Response:
    """Delete a webhook endpoint; nothing more is sent to it."""
    endpoint = service.get_endpoint(session=session, owner=owner, endpoint_id=endpoint_id)
    service.delete_endpoint(session=session, endpoint=endpoint)
    return Response(status_code=204)


@router.post("/webhook-endpoints/{endpoint_id}/disable", response_model=EndpointRead)
def disable_endpoint(
    endpoint_id: EndpointId, session: SessionDep, owner: Subscriber, now: NowDep
) -> EndpointRead:
    """Stop sending; messages wait until the endpoint is enabled again."""
    endpoint = service.get_endpoint(session=session, owner=owner, endpoint_id=endpoint_id)
    return EndpointRead.model_validate(
        service.set_enabled(session=session, endpoint=endpoint, enabled=False, now=now)
    )


@router.post("/webhook-endpoints/{endpoint_id}/enable", response_model=EndpointRead)
def enable_endpoint(
    endpoint_id: EndpointId, session: SessionDep, owner: Subscriber, now: NowDep
) -> EndpointRead:
    """Send again, starting with the messages that waited."""
    endpoint = service.get_endpoint(session=session, owner=owner, endpoint_id=endpoint_id)
    return EndpointRead.model_validate(
        service.set_enabled(session=session, endpoint=endpoint, enabled=True, now=now)
    )


@router.post("/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
def rotate_secret(
    endpoint_id: EndpointId,
    session: SessionDep,
    settings: SettingsDep,
    owner: Subscriber,
    now: NowDep,
) -> EndpointWithSecret:
    """A new signing secret (in this answer only); the old one keeps signing beside it for
    a day, so a receiver can switch without missing a webhook."""
    endpoint = service.get_endpoint(session=session, owner=owner, endpoint_id=endpoint_id)
    secret = service.rotate_secret(session=session, settings=settings, endpoint=endpoint, now=now)
    return _with_secret(endpoint, secret)


def _message_read(
    message: WebhookMessage, event: LoggedEvent, tries: list[WebhookTry]
) -> MessageRead:
    return MessageRead(
        id=message.id,
        event_id=event.key,
        event_type=event.kind,
        status=message.status,
        tries=[TryRead.model_validate(t) for t in tries],
        next_try_at=message.next_try_at if message.status == "pending" else None,
        created_at=message.created_at,
    )


@router.get("/webhook-endpoints/{endpoint_id}/deliveries", response_model=MessagePage)
def list_webhook_deliveries(
    endpoint_id: EndpointId,
    session: SessionDep,
    owner: Subscriber,
    after: Annotated[int, Query(ge=0, le=2**62, description="an event cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MessagePage:
    """Each event sent (or waiting) to this endpoint in event order, with every try."""
    endpoint = service.get_endpoint(session=session, owner=owner, endpoint_id=endpoint_id)
    rows, has_more = service.list_messages(
        session=session, endpoint=endpoint, after=after, limit=limit
    )
    return MessagePage(
        data=[_message_read(*row) for row in rows],
        has_more=has_more,
        next_cursor=rows[-1][1].id if rows else after,
    )


@router.post(
    "/webhook-deliveries/{webhook_delivery_id}/replay", response_model=MessageRead, status_code=202
)
def replay_delivery(
    webhook_delivery_id: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    owner: Subscriber,
    now: NowDep,
) -> MessageRead:
    """Send one webhook delivery of the caller's endpoints again, with the same webhook-id
    and a fresh retry schedule."""
    message = service.replay(session=session, owner=owner, message_id=webhook_delivery_id, now=now)
    endpoint = service.get_endpoint(session=session, owner=owner, endpoint_id=message.endpoint_id)
    rows, _ = service.list_messages(
        session=session, endpoint=endpoint, after=message.event_id - 1, limit=1
    )
    return _message_read(*rows[0])
