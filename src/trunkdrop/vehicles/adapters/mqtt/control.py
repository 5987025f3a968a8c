"""The operator's controls of the simulated fleet over the car link: the physical world
(park, shut the lid, leave coverage) and, for a fleet that follows it, the world's clock."""

from __future__ import annotations

from datetime import datetime

from trunkdrop.vehicles.adapters.mqtt.adapter import MqttCarLink
from trunkdrop.vehicles.adapters.mqtt.schemas import ClockMessage, SimMessage


class FleetControl:
    def __init__(self, link: MqttCarLink) -> None:
        self._link = link

    def act(
        self,
        brand: str,
        external_id: str,
        action: str,
        *,
        now: datetime,
        where: tuple[float, float] | None = None,
        settings: dict[str, float | bool] | None = None,
    ) -> None:
        message = SimMessage.model_validate(
            {
                "action": action,
                "latitude": where[0] if where else None,
                "longitude": where[1] if where else None,
                "settings": settings,
                "at": now,
            }
        )
        self._link.publish(brand, external_id, "sim", message.encode())

    def set_clock(self, now: datetime) -> None:
        self._link.publish_raw(self._link.topics.clock, ClockMessage(now=now).encode())
