"""Field types shared by several domains' schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

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
