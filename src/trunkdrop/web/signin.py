"""Signing in with an e-mail link, and the browser sessions that follow.

A link's token and a session's id are 32 random bytes handed to the person once (in the
e-mail, in the cookie); the database keeps only their SHA-256, so a copy of it signs
nobody in. A link works once and for `signin_link_lifetime_s`; a session ends at
`session_lifetime_s` or when its person signs out. Keyword-only functions taking the
session; nothing here commits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.errors import Unauthenticated
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import ApiKey, Party
from trunkdrop.web.models import BrowserSession, SigninLink

COOKIE = "td_session"
CSRF_HEADER = "X-CSRF-Token"
# Spent links are kept a little while so that a click racing the sweep is refused as
# spent, not unknown; nothing reads them after that.
SWEEP_GRACE = timedelta(hours=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LinkToSend:
    party_id: str
    role: str
    name: str
    email: str
    token: str


def issue_links(
    *, session: Session, email: str, now: datetime, settings: Settings
) -> list[LinkToSend]:
    """One fresh link for each party whose address this is (one person may be a customer
    and a driver); none, and no sign of it, for an unknown address."""
    address = email.strip().lower()
    if not address or "@" not in address or len(address) > 320:
        return []
    found = session.scalars(select(Party).where(func.lower(Party.email) == address)).all()
    links = []
    for party in found:
        token = secrets.token_urlsafe(32)
        session.add(
            SigninLink(
                token_hash=_hash(token),
                party_id=party.id,
                created_at=now,
                expires_at=now + timedelta(seconds=settings.signin_link_lifetime_s),
            )
        )
        links.append(LinkToSend(party.id, party.role, party.name, address, token))
    session.flush()
    return links


def redeem_link(*, session: Session, token: str, now: datetime, settings: Settings) -> str:
    """Use a link once: a new session for its party. Returns the session id (the cookie)."""
    link = session.scalars(
        select(SigninLink).where(SigninLink.token_hash == _hash(token[:100])).with_for_update()
    ).one_or_none()
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise Unauthenticated("this sign-in link is unknown, used or expired: ask for a new one")
    link.used_at = now
    session_id = secrets.token_urlsafe(32)
    session.add(
        BrowserSession(
            id_hash=_hash(session_id),
            party_id=link.party_id,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.session_lifetime_s),
        )
    )
    events.record(
        session=session,
        event=Event(kind="session.started", at=now, subject=link.party_id, actor=link.party_id),
    )
    session.flush()
    return session_id


def party_of(*, session: Session, session_id: str, now: datetime) -> Party:
    """The party signed in with this session id, or Unauthenticated."""
    row = session.execute(
        select(Party, BrowserSession.created_at, BrowserSession.expires_at, BrowserSession.ended_at)
        .join(BrowserSession, BrowserSession.party_id == Party.id)
        .where(BrowserSession.id_hash == _hash(session_id[:100]))
    ).one_or_none()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        raise Unauthenticated("sign in again: this session has ended")
    party: Party = row[0]
    # Revoking a party's keys (a driver who left, a leak) ends its sessions begun before.
    revoked = session.scalar(select(func.max(ApiKey.revoked_at)).where(ApiKey.party_id == party.id))
    if revoked is not None and revoked >= row.created_at:
        raise Unauthenticated("sign in again: this party's access was revoked")
    return party


def end_session(*, session: Session, session_id: str, now: datetime) -> None:
    """Sign out: the session works no more, whoever holds the cookie."""
    row = session.get(BrowserSession, _hash(session_id[:100]))
    if row is None or row.ended_at is not None:
        return
    row.ended_at = now
    events.record(
        session=session,
        event=Event(kind="session.ended", at=now, subject=row.party_id, actor=row.party_id),
    )
    session.flush()


def csrf_token(session_id: str) -> str:
    """The session's anti-forgery token: derived from its secret, so nothing more is stored
    and a page of another site, which cannot read the cookie, cannot know it."""
    return hmac.new(session_id.encode(), b"trunkdrop-csrf-v1", hashlib.sha256).hexdigest()


def csrf_ok(session_id: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token(session_id), presented)


def end_sessions_of(*, session: Session, party_id: str, now: datetime) -> int:
    """Every live browser session and unused sign-in link of the party ends (erasure)."""
    live = list(
        session.scalars(
            select(BrowserSession).where(
                BrowserSession.party_id == party_id, BrowserSession.ended_at.is_(None)
            )
        )
    )
    for row in live:
        row.ended_at = now
    for link in session.scalars(
        select(SigninLink).where(SigninLink.party_id == party_id, SigninLink.used_at.is_(None))
    ):
        link.used_at = now
    if live:
        events.record(
            session=session,
            event=Event(kind="session.ended", at=now, subject=party_id, actor=party_id),
        )
    session.flush()
    return len(live)


def forget_spent_links(*, session: Session, now: datetime) -> int:
    """Delete the sign-in links used or expired more than `SWEEP_GRACE` ago: a spent link
    signs nobody in, and its row would only pile up (its use is in the event log)."""
    cutoff = now - SWEEP_GRACE
    gone = session.execute(
        delete(SigninLink)
        .where(or_(SigninLink.used_at < cutoff, SigninLink.expires_at < cutoff))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(gone, "rowcount", 0) or 0)
