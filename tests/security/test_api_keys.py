"""API keys: each answer is remembered for a few seconds per process, never past a
revocation made in the same process; one made elsewhere counts within `auth.TTL_S`."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update

from tests.support import World
from trunkdrop.access.models import AuditEntry
from trunkdrop.api import auth
from trunkdrop.parties.models import ApiKey


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_key_revoked_in_this_process_is_refused_at_once(world: World) -> None:
    """A driver's key answered from memory a moment ago is refused on the very next request
    once its revocation is committed in this process."""
    assert world.get("driver", "/v1/stops").status_code == 200
    with world.platform.uow() as session:
        for key in session.scalars(select(ApiKey).where(ApiKey.party_id == world.ids["driver"])):
            key.revoked_at = world.clock.now()
    response = world.get("driver", "/v1/stops")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_a_key_revoked_elsewhere_is_refused_once_its_answer_is_stale(world: World) -> None:
    """Revoked by another process (a statement this process never sees): still answered
    from memory inside TTL_S, refused as soon as the remembered answer is older."""
    clock = FakeMonotonic()
    world.client.app.state.keys = auth.KeyCache(monotonic=clock)  # type: ignore[attr-defined]
    assert world.get("driver", "/v1/stops").status_code == 200
    with world.platform.engine.begin() as connection:  # behind the ORM, as another process
        connection.execute(
            update(ApiKey)
            .where(ApiKey.party_id == world.ids["driver"])
            .values(revoked_at=world.clock.now())
        )
    clock.t += auth.TTL_S / 2
    assert world.get("driver", "/v1/stops").status_code == 200
    clock.t += auth.TTL_S
    assert world.get("driver", "/v1/stops").status_code == 401


def test_refused_keys_are_not_remembered(world: World) -> None:
    """Unknown keys are refused every time and leave nothing behind (a flood of made-up
    keys cannot grow memory); a known key is remembered once."""
    cache = auth.KeyCache()
    world.client.app.state.keys = cache  # type: ignore[attr-defined]
    for _ in range(20):
        headers = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
        assert world.client.get("/v1/stops", headers=headers).status_code == 401
    assert len(cache) == 0
    assert world.get("driver", "/v1/stops").status_code == 200
    assert world.get("driver", "/v1/stops").status_code == 200
    assert len(cache) == 1


def test_a_carrier_revokes_its_drivers_api_keys_in_one_call(world: World) -> None:
    """The carrier revokes its driver's keys: the driver's very next request is refused,
    and the revocation is in the audit trail."""
    assert world.get("driver", "/v1/stops").status_code == 200
    path = f"/v1/parties/{world.ids['driver']}/api-keys/revoke"
    assert world.ok(world.post("carrier", path)) == {
        "party_id": world.ids["driver"],
        "revoked": 1,
    }
    assert world.get("driver", "/v1/stops").status_code == 401
    with world.platform.uow() as session:
        trail = session.scalars(
            select(AuditEntry.subject).where(AuditEntry.action == "api_keys.revoked")
        ).all()
    assert list(trail) == [world.ids["driver"]]


def test_only_the_party_its_carrier_or_an_operator_may_revoke_its_keys(world: World) -> None:
    """Another carrier and a customer get 404 (other parties' ids are not confirmed) and
    the driver's key still works; the driver may revoke their own."""
    path = f"/v1/parties/{world.ids['driver']}/api-keys/revoke"
    assert world.post("other-carrier", path).status_code == 404
    assert world.post("anna", path).status_code == 404
    assert world.get("driver", "/v1/stops").status_code == 200
    assert world.ok(world.post("driver", path))["revoked"] == 1
    assert world.get("driver", "/v1/stops").status_code == 401
