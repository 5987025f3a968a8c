"""The worker's sweep deletes spent short-lived credentials: checkout sessions and sign-in
links past their expiry (or use) and a grace, never before."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from tests.support import World
from trunkdrop.checkout import service as checkout
from trunkdrop.checkout.models import CheckoutSession
from trunkdrop.deliveries import upkeep
from trunkdrop.web import signin
from trunkdrop.web.models import SigninLink


def _sweep(world: World, now: datetime) -> None:
    with world.platform.uow() as s:
        upkeep.sweep(session=s, settings=world.platform.settings, now=now, done=upkeep.WorkDone())


def _count(world: World, model: type[CheckoutSession] | type[SigninLink]) -> int:
    with world.platform.uow() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_sweep_deletes_checkout_sessions_only_past_expiry_and_grace(world: World) -> None:
    """A checkout session survives sweeps until its expiry plus the grace, then is gone
    (kept forever, or deleted at expiry, would fail one of the two counts)."""
    body = {
        "customer_id": world.ids["anna"],
        "date": world.at(0).date().isoformat(),
        "parcel": world.parcel(),
    }
    world.ok(world.post("shop", "/v1/checkout-sessions", body), 201)
    with world.platform.uow() as s:
        expires_at = s.scalars(select(CheckoutSession.expires_at)).one()
    _sweep(world, expires_at + checkout.SWEEP_GRACE - timedelta(seconds=1))
    assert _count(world, CheckoutSession) == 1
    _sweep(world, expires_at + checkout.SWEEP_GRACE + timedelta(seconds=1))
    assert _count(world, CheckoutSession) == 0


def test_sweep_deletes_used_and_expired_signin_links_after_the_grace(world: World) -> None:
    """A used link goes a grace after its use, an unused one a grace after its expiry; a
    live link stays (a sweep that ignored use, or deleted live links, fails)."""
    world.ok(
        world.client.patch("/v1/me", headers=world.auth("anna"), json={"email": "a@example.org"})
    )
    settings = world.platform.settings
    now = world.clock.now()
    with world.platform.uow() as s:
        (used,) = signin.issue_links(session=s, email="a@example.org", now=now, settings=settings)
        signin.issue_links(session=s, email="a@example.org", now=now, settings=settings)
        signin.redeem_link(session=s, token=used.token, now=now, settings=settings)
    lifetime = timedelta(seconds=settings.signin_link_lifetime_s)
    _sweep(world, now + signin.SWEEP_GRACE - timedelta(seconds=1))
    assert _count(world, SigninLink) == 2
    _sweep(world, now + signin.SWEEP_GRACE + timedelta(seconds=1))
    assert _count(world, SigninLink) == 1  # the used one
    _sweep(world, now + lifetime + signin.SWEEP_GRACE - timedelta(seconds=1))
    assert _count(world, SigninLink) == 1
    _sweep(world, now + lifetime + signin.SWEEP_GRACE + timedelta(seconds=1))
    assert _count(world, SigninLink) == 0
