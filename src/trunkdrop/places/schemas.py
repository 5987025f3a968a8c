"""Pydantic schemas for places."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from trunkdrop.schemas import Latitude, ListPage, Longitude


class PlaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str = Field(min_length=1, max_length=64)
    latitude: Latitude
    longitude: Longitude
    address: str = Field(min_length=1, max_length=300)
    parking_notes: str = Field("", max_length=500)
    is_home: bool = False


class PlaceUpdate(BaseModel):
    """The fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str | None = Field(None, min_length=1, max_length=64)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    address: str | None = Field(None, min_length=1, max_length=300)
    parking_notes: str | None = Field(None, max_length=500)
    is_home: bool | None = None


class PlaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    label: str
    latitude: float
    longitude: float
    address: str
    parking_notes: str
    is_home: bool


class PlacePage(ListPage[PlaceRead]):
    """A page of the caller's places."""
