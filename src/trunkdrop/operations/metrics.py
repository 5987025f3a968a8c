"""Prometheus metrics: requests and latencies counted in this process; deliveries, grants,
commands, incidents and the outbox backlog read from the database at scrape time (so every
process answers the same figures for them)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from trunkdrop.access.models import Grant
from trunkdrop.deliveries.models import Delivery
from trunkdrop.incidents.models import Incident
from trunkdrop.notify.models import OutboxMessage
from trunkdrop.vehicles.models import VehicleCommand
from trunkdrop.webhooks.models import WebhookMessage

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "trunkdrop_http_requests",
    "HTTP requests answered, by route and status class",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "trunkdrop_http_request_seconds",
    "HTTP request latency, by route",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)


class DatabaseCollector(Collector):
    """Counts by status, read in one short transaction per scrape."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def collect(self) -> Iterator[Metric]:
        with self._session_factory() as session:
            yield _by_status(
                session, "trunkdrop_deliveries", "Deliveries by status", Delivery.status
            )
            yield _by_status(session, "trunkdrop_grants", "Access grants by status", Grant.status)
            yield _by_status(
                session,
                "trunkdrop_commands",
                "Commands to cars by status (sent, executed, expired, ...)",
                VehicleCommand.status,
            )
            yield _by_status(session, "trunkdrop_incidents", "Incidents by status", Incident.status)
            backlog = GaugeMetricFamily(
                "trunkdrop_outbox_backlog", "Messages waiting to go out", labels=["kind"]
            )
            webhooks = session.scalar(
                select(func.count()).where(WebhookMessage.status == "pending")
            )
            messages = session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None)))
            backlog.add_metric(["webhook"], float(webhooks or 0))
            backlog.add_metric(["message"], float(messages or 0))
            yield backlog


def _by_status(session: Session, name: str, doc: str, column: object) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["status"])
    for status, count in session.execute(select(column, func.count()).group_by(column)):  # type: ignore[call-overload]
        family.add_metric([str(status)], float(count))
    return family
