"""Every domain's tables in one metadata, for Alembic and for a test database. It sits above
the domains: `store/` (engine, unit of work) imports none of them."""

from __future__ import annotations

from trunkdrop.access import models as access_models
from trunkdrop.checkout import models as checkout_models
from trunkdrop.consents import models as consent_models
from trunkdrop.deliveries import models as delivery_models
from trunkdrop.devices import models as device_models
from trunkdrop.dispatch import models as dispatch_models
from trunkdrop.events import models as event_models
from trunkdrop.idempotency import models as idempotency_models
from trunkdrop.incidents import models as incident_models
from trunkdrop.notify import models as notify_models
from trunkdrop.operations import models as operations_models
from trunkdrop.parties import models as party_models
from trunkdrop.pickup_points import models as pickup_point_models
from trunkdrop.places import models as place_models
from trunkdrop.returns import models as return_models
from trunkdrop.sends import models as send_models
from trunkdrop.store.base import Base
from trunkdrop.vehicles import models as vehicle_models
from trunkdrop.web import models as web_models
from trunkdrop.webhooks import models as webhook_models

metadata = Base.metadata

__all__ = [
    "access_models",
    "checkout_models",
    "consent_models",
    "delivery_models",
    "device_models",
    "dispatch_models",
    "event_models",
    "idempotency_models",
    "incident_models",
    "metadata",
    "notify_models",
    "operations_models",
    "party_models",
    "pickup_point_models",
    "place_models",
    "return_models",
    "send_models",
    "vehicle_models",
    "web_models",
    "webhook_models",
]
