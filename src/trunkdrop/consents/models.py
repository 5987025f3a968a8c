"""Tables: shops' OAuth clients, short-lived authorisation codes, customers' consents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class OAuthClient(Base):
    """A shop's registration: where trunkdrop may send its customers back to."""

    __tablename__ = "oauth_clients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the client_id
    retailer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the secret: the secret is random, shown once, never stored.
    secret_hash: Mapped[str] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class AuthorizationCode(Base):
    """A customer's approval, on its way to the shop: one use, minutes long, PKCE-bound."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(200))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Consent(Base):
    """What one customer allowed one shop, until the customer revokes it."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    retailer_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id"))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    # SHA-256 of the consent token the shop holds.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
