"""Pydantic schemas for webhook endpoints and their messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from trunkdrop.events.domain import PUBLISHED_KINDS
from trunkdrop.schemas import ListPage


class EndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://shop.example/hooks/trunkdrop",
                    "events": ["delivery.delivered", "delivery.attempt_failed"],
                }
            ]
        },
    )

    url: str = Field(min_length=8, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=len(PUBLISHED_KINDS))

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        unknown = sorted(set(events) - PUBLISHED_KINDS)
        if unknown:
            raise ValueError(
                f"unknown event types {unknown}; known: {', '.join(sorted(PUBLISHED_KINDS))}"
            )
        return list(dict.fromkeys(events))


class EndpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    events: list[str] = Field(validation_alias=AliasChoices("event_types", "events"))
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime


class EndpointWithSecret(EndpointRead):
    """The endpoint with its signing secret: answered once, at creation or rotation."""

    secret: str


class TryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class MessageRead(BaseModel):
    """One event sent (or to be sent) to the endpoint, with each try."""

    id: str
    event_id: str
    event_type: str
    status: str
    tries: list[TryRead]
    next_try_at: datetime | None
    created_at: datetime


class MessagePage(BaseModel):
    data: list[MessageRead]
    has_more: bool
    # Pass as `after` to read on; when nothing was returned, the cursor given.
    next_cursor: int = 0


class EndpointPage(ListPage[EndpointRead]):
    """A page of the caller's webhook endpoints, the first registered first."""
