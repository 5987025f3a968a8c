"""Tables: carriers' service areas, routes and their stops."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trunkdrop.store.base import Base


class ServiceArea(Base):
    __tablename__ = "service_areas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    carrier_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    latitude: Mapped[float]
    longitude: Mapped[float]
    radius_m: Mapped[int]
    depot_latitude: Mapped[float]
    depot_longitude: Mapped[float]
    created_at: Mapped[datetime]


class Route(Base):
    __tablename__ = "routes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    carrier_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    driver_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    service_date: Mapped[date]
    # planned -> started -> finished
    status: Mapped[str] = mapped_column(String(16), default="planned")
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    # The van and shift the route was planned for (litres; seconds of the local day), which
    # its re-plans and the loading check keep to. None on routes planned before they were
    # kept: the settings' van and shift stand in.
    capacity_l: Mapped[int | None] = mapped_column(default=None)
    shift_start_s: Mapped[int | None] = mapped_column(default=None)
    shift_end_s: Mapped[int | None] = mapped_column(default=None)


class RouteStop(Base):
    """One visit: a delivery at one of its places (or its home address)."""

    __tablename__ = "route_stops"
    __table_args__ = (UniqueConstraint("route_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    route_id: Mapped[str] = mapped_column(ForeignKey("routes.id"), index=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    seq: Mapped[int]
    mode: Mapped[str] = mapped_column(String(8))  # trunk | home
    option_seq: Mapped[int | None] = mapped_column(default=None)
    # pending -> done | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    eta: Mapped[datetime | None] = mapped_column(default=None)


class ReplanRequest(Base):
    """Something changed a van's day (a stop failed and its fallback was appended, the van
    runs late): the planner re-orders the rest of that route. One open request per route."""

    __tablename__ = "replan_requests"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    route_id: Mapped[str] = mapped_column(ForeignKey("routes.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    outcome: Mapped[str | None] = mapped_column(String(200), default=None)
