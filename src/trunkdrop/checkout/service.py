"""Checkout sessions: made by the shop's backend with the customer's consent, read by the
widget on the shop's page with nothing but the session's token, closed when the shop books.

The browser never holds the shop's API key or the customer's consent token, and the
customer's `td_session` cookie (SameSite=Strict) never reaches a widget on another site:
the session's token stands in for both, for one parcel, for minutes.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trunkdrop.checkout.models import CheckoutSession
from trunkdrop.checkout.schemas import CheckoutSessionIssued, CheckoutSessionOptionsRead
from trunkdrop.config import Settings
from trunkdrop.consents.models import Consent, OAuthClient
from trunkdrop.consents.oauth import digest
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.schemas import CheckoutRequest
from trunkdrop.errors import Forbidden, Unauthenticated
from trunkdrop.parties.models import Party
from trunkdrop.store.base import new_id

# Not secrets: the prefix that tells a checkout session's token at a glance, and advice.
PREFIX = "tdk_"
HOW_TO_SEND = "send the checkout session's token as 'Authorization: Bearer TOKEN'"


def create(
    *,
    session: Session,
    settings: Settings,
    retailer: Party,
    consent: Consent,
    request: CheckoutRequest,
    now: datetime,
) -> CheckoutSessionIssued:
    """A new session for this parcel and customer; the caller has checked the consent."""
    deliveries.bookable_day(request.date, field="date", settings=settings, now=now)
    token = PREFIX + secrets.token_urlsafe(32)
    row = CheckoutSession(
        id=new_id("cks"),
        token_hash=digest(token),
        retailer_id=retailer.id,
        customer_id=request.customer_id,
        consent_id=consent.id,
        parcel_reference=request.parcel.reference,
        request=request.model_dump(mode="json"),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.checkout_session_lifetime_s),
    )
    session.add(row)
    session.flush()
    return CheckoutSessionIssued(
        id=row.id,
        token=token,
        customer_id=row.customer_id,
        parcel_reference=row.parcel_reference,
        expires_at=row.expires_at,
    )


def origin_of(url: str) -> str:
    """`scheme://host[:port]` as a browser sends it in `Origin` (default ports left out)."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def options(
    *, session: Session, settings: Settings, token: str | None, origin: str | None, now: datetime
) -> CheckoutSessionOptionsRead:
    """What the widget shows: the session's checkout options, computed now.

    401 when the token is missing, unknown, expired or used; 403 when the page asking is
    not the shop's (its `Origin` is none of the shop's registered redirect origins) or
    the customer has revoked the shop's consent since.
    """
    if not token:
        raise Unauthenticated(HOW_TO_SEND, code="checkout_session_missing")
    row = session.scalars(
        select(CheckoutSession).where(CheckoutSession.token_hash == digest(token[:200]))
    ).first()
    if row is None:
        raise Unauthenticated(
            f"no checkout session has this token: {HOW_TO_SEND}", code="checkout_session_unknown"
        )
    if row.used_at is not None:
        raise Unauthenticated(
            "this checkout session is over: its parcel is booked", code="checkout_session_used"
        )
    if row.expires_at <= now:
        raise Unauthenticated(
            "this checkout session has expired: the shop makes a new one",
            code="checkout_session_expired",
        )
    consent = session.get(Consent, row.consent_id)
    if consent is None or consent.revoked_at is not None:
        raise Forbidden("the customer has revoked this shop's consent", code="consent_missing")
    # A browser cannot lie about `Origin`: another site's page holding a leaked token
    # gets nothing. Without the header (a server, curl) the token alone decides.
    if origin is not None:
        client = session.get(OAuthClient, consent.client_id)
        allowed = {origin_of(u) for u in (client.redirect_uris if client else [])}
        if origin.lower() not in allowed:
            raise Forbidden(
                f"this checkout session belongs to another site than {origin[:100]!r}",
                code="checkout_origin_refused",
                field="Origin",
            )
    found = deliveries.checkout_options(
        session=session,
        settings=settings,
        request=CheckoutRequest.model_validate(row.request),
        now=now,
    )
    return CheckoutSessionOptionsRead(
        session_id=row.id,
        parcel_reference=row.parcel_reference,
        expires_at=row.expires_at,
        timezone=settings.timezone,
        trunk_possible=found.trunk_possible,
        options=found.options,
        reasons=found.reasons,
    )


def close_for_booking(
    *, session: Session, retailer_id: str, customer_id: str, parcel_reference: str, now: datetime
) -> int:
    """The shop booked this parcel: its open checkout sessions are used up."""
    closed = session.execute(
        update(CheckoutSession)
        .where(
            CheckoutSession.retailer_id == retailer_id,
            CheckoutSession.customer_id == customer_id,
            CheckoutSession.parcel_reference == parcel_reference,
            CheckoutSession.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(closed, "rowcount", 0) or 0)
