"""Field types shared by several domains' schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

R = TypeVar("R")

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


def _utc_representable(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time lies outside the years 1 to 9999 in UTC") from None
    return value


# A time with its zone that also exists in UTC ("0001-01-01T00:00+14:00" does not).
Timestamp = Annotated[AwareDatetime, AfterValidator(_utc_representable)]


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: Latitude
    longitude: Longitude


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Timestamp
    end: Timestamp


class ListPage(BaseModel, Generic[R]):
    """One page of a list, in the list's order."""

    data: list[R]
    has_more: bool = Field(description="true when more items follow this page")
    next_cursor: str | None = Field(
        description="pass as `cursor` to read the next page; null when nothing follows"
    )
