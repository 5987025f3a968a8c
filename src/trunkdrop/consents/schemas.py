"""Pydantic schemas for OAuth clients and consents."""

from __future__ import annotations

from datetime import datetime

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from trunkdrop.schemas import ListPage

SCOPES = ("places:read", "deliveries:book", "returns:book")


class OAuthClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    redirect_uris: list[AnyHttpUrl] = Field(min_length=1, max_length=10)


class OAuthClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    redirect_uris: list[str]
    created_at: datetime


class OAuthClientIssued(OAuthClientRead):
    """Shown once: the secret is stored only as a digest."""

    client_secret: str


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    retailer_id: str
    client_id: str
    # The name the shop registered its client under: what the customer recognises.
    client_name: str | None = None
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ConsentPage(ListPage[ConsentRead]):
    """A page of the caller's consents to shops."""


class AuthorizationRequestRead(BaseModel):
    """What the customer is asked to approve (the consent screen's content)."""

    client_id: str
    client_name: str
    retailer_id: str
    scopes: list[str]
    redirect_uri: str
