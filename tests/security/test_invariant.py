"""The invariant, under random sequences (Hypothesis state machine): the trunk is open only if
a live, unexpired, unrevoked grant for this car, this device, this window and this place was
redeemed for the first time."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.support import HOME, OFFICE, Handset
from trunkdrop import workers
from trunkdrop.access import service as access
from trunkdrop.bootstrap import bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.deliveries import domain
from trunkdrop.devices import service as devices
from trunkdrop.devices.schemas import DeviceRegister
from trunkdrop.parties import service as parties
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.models import Vehicle
from trunkdrop.vehicles.schemas import VehicleLink

BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = (datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN), datetime(2026, 12, 1, 12, 0, tzinfo=BERLIN))
BRAND, EXTERNAL = "sim-dagny", "VINHYPOTHESIS0001"


@dataclass
class ModelGrant:
    id: str
    token: str
    attempt: str
    expires_at: datetime
    used: bool = False
    revoked: bool = False


class GrantMachine(RuleBasedStateMachine):
    template: Path

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="td-hyp-"))
        db = self.dir / "trunkdrop.db"
        shutil.copy(self.template, db)
        self.settings = Settings(database_url=f"sqlite:///{db}", environment="test")
        self.clock = ManualClock(datetime(2026, 12, 1, 10, 15, tzinfo=BERLIN))
        self.p = bootstrap(self.settings, clock=self.clock, migrate=False)
        self.handset, self.thief = Handset(), Handset()
        now = self.clock.now()
        with self.p.uow() as s:
            carrier = parties.create_party(session=s, role="carrier", name="c", now=now)
            driver = parties.create_party(
                session=s, role="driver", name="d", carrier_id=carrier.id, now=now
            )
            owner = parties.create_party(session=s, role="customer", name="o", now=now)
            self.driver_id = driver.id
            self.handset.id = devices.register_device(
                session=s,
                driver=driver,
                device_in=DeviceRegister(public_key=self.handset.public_key),
                now=now,
            ).id
            devices.approve_device(session=s, party=carrier, device_id=self.handset.id, now=now)
            car = vehicles.link_vehicle(
                session=s,
                registry=self.p.registry,
                owner=owner,
                now=now,
                vehicle_in=VehicleLink(
                    brand=BRAND,
                    external_id=EXTERNAL,
                    make="Dagny",
                    model="Estate",
                    year=2024,
                    plate="M-HY 1",
                    colour="green",
                    trunk_volume_l=400,
                ),
                grant_issuer=self.settings.grant_issuer,
                grant_public_keys=self.p.keyring(s).public_keys(
                    now=now, longest_grant_s=self.settings.grant_lifetime_s
                ),
            )
            self.vehicle_id = car.id
        self.grants: list[ModelGrant] = []
        self.car_at_place = True
        self.driver_near = True
        self.expect_open = False
        self._park(OFFICE)

    # -- helpers -------------------------------------------------------------------------
    @property
    def car(self):  # type: ignore[no-untyped-def]
        return self.p.simulator.car(BRAND, EXTERNAL)

    def _park(self, where: tuple[float, float]) -> None:
        """The car parks and reports it. This model books no delivery, and a car's position
        is stored only while one needs it (tests/e2e/test_positions_kept.py): the report's
        position is set here as a booking would have kept it."""
        now = self.clock.now()
        self.p.simulator.park(BRAND, EXTERNAL, *where, now)
        self._work()
        with self.p.uow() as s:
            vehicle = s.get(Vehicle, self.vehicle_id)
            assert vehicle is not None
            vehicle.latitude, vehicle.longitude, vehicle.position_at = where[0], where[1], now

    def _work(self) -> None:
        workers.run_once(self.p, self.clock.now())

    def _driver_closes_the_trunk(self) -> None:
        self.p.simulator.close_trunk(BRAND, EXTERNAL, self.clock.now())
        self.expect_open = False

    def _live(self, g: ModelGrant) -> bool:
        return not g.used and not g.revoked and self.clock.now() < g.expires_at

    def _present(self, g: ModelGrant, handset: Handset) -> str:
        nonce = self.p.simulator.car_challenge(BRAND, EXTERNAL, self.clock.now())
        return self.p.simulator.present_grant(
            BRAND,
            EXTERNAL,
            token=g.token,
            nonce=nonce,
            signature=handset.sign(nonce, g.attempt),
            now=self.clock.now(),
        )

    # -- rules ---------------------------------------------------------------------------
    @rule()
    def issue(self) -> None:
        self._driver_closes_the_trunk()
        now = self.clock.now()
        driver = OFFICE if self.driver_near else HOME
        with self.p.uow() as s:
            vehicle = s.get(Vehicle, self.vehicle_id)
            assert vehicle is not None
            refusals = domain.access_refusals(
                domain.AccessContext(
                    now=now,
                    window=domain.TimeWindow(*WINDOW),
                    place_lat=OFFICE[0],
                    place_lon=OFFICE[1],
                    vehicle_lat=vehicle.latitude,
                    vehicle_lon=vehicle.longitude,
                    vehicle_position_at=vehicle.position_at,
                    vehicle_online=vehicle.online,
                    vehicle_blockers=tuple(vehicles.trunk_delivery_blockers(vehicle)),
                    driver_lat=driver[0] + 0.0001,
                    driver_lon=driver[1],
                    vehicle_radius_m=300,
                    driver_radius_m=50,
                    position_max_age_s=43_200,
                    live_grant_on_vehicle=access.live_grant_for_vehicle(
                        session=s, vehicle_id=self.vehicle_id, now=now
                    )
                    is not None,
                    car_verifies_grant=True,
                )
            )
        in_window = WINDOW[0] <= now < WINDOW[1]
        assert (not refusals) == (
            in_window
            and self.car_at_place
            and self.driver_near
            and not any(self._live(g) for g in self.grants)
        ), refusals
        if refusals:
            return
        attempt = f"att_hyp{len(self.grants):04d}"
        with self.p.uow() as s:
            grant, token = access.issue_grant(
                session=s,
                keyring=self.p.keyring(s),
                issuer=self.settings.grant_issuer,
                vehicle_id=self.vehicle_id,
                attempt_id=attempt,
                delivery_id="dlv_hyp",
                driver_id=self.driver_id,
                device_id=self.handset.id,
                device_key=self.handset.public_key,
                place_lat=OFFICE[0],
                place_lon=OFFICE[1],
                radius_m=300,
                window_end=WINDOW[1],
                lifetime_s=600,
                now=now,
            )
            self.grants.append(ModelGrant(grant.id, token, attempt, grant.expires_at))

    @rule(pick=st.integers(0, 50))
    def redeem(self, pick: int) -> None:
        """The driver's handset presents a grant (a used one: a replay)."""
        self._driver_closes_the_trunk()
        if not self.grants:
            return
        g = self.grants[pick % len(self.grants)]
        should_open = self._live(g) and self.car_at_place
        verdict = self._present(g, self.handset)
        assert (verdict == "opened") == should_open, (verdict, g, self.car_at_place)
        if verdict == "opened":
            g.used, self.expect_open = True, True
        self._work()

    @rule(pick=st.integers(0, 50))
    def copy_to_another_device(self, pick: int) -> None:
        """The grant copied to a thief's phone, which signs the car's nonce with its own key."""
        self._driver_closes_the_trunk()
        if self.grants:
            g = self.grants[pick % len(self.grants)]
            assert self._present(g, self.thief) != "opened"
        self._work()

    @rule(seconds=st.integers(20, 900))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self._work()

    @rule(pick=st.integers(0, 50))
    def revoke(self, pick: int) -> None:
        if not self.grants:
            return
        g = self.grants[pick % len(self.grants)]
        with self.p.uow() as s:
            ended = access.end_live_grants(
                session=s, now=self.clock.now(), reason="test", attempt_id=g.attempt
            )
        if ended:
            g.revoked = True
        self._work()  # pushed to the car, which is in reach

    @rule(away=st.booleans())
    def move_car(self, away: bool) -> None:
        self._driver_closes_the_trunk()
        self._park(HOME if away else OFFICE)
        self.car_at_place = not away

    @rule(near=st.booleans())
    def move_driver(self, near: bool) -> None:
        self.driver_near = near

    @rule()
    def restart(self) -> None:
        """The platform restarts on the same database; the car keeps its own state."""
        simulator = self.p.simulator
        self.p.close()
        self.p = bootstrap(self.settings, clock=self.clock, simulator=simulator, migrate=False)
        self._work()

    @rule(skew=st.integers(-7200, 7200))
    def clock_skew(self, skew: int) -> None:
        """Someone sets the car's real-time clock off by up to two hours."""
        self.p.simulator.configure(BRAND, EXTERNAL, clock_skew_s=skew)

    # -- the invariant -------------------------------------------------------------------
    @invariant()
    def trunk_open_only_after_a_first_use_of_a_live_grant(self) -> None:
        assert self.car.trunk_open == self.expect_open

    def teardown(self) -> None:
        self.p.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_trunk_opens_only_for_a_first_use_of_a_live_grant(sqlite_template: Path) -> None:
    """Random issue/redeem/replay/copy/expire/revoke/move/restart/skew sequences never open the
    trunk except for the first use of a live grant for this car, device, window and place."""
    GrantMachine.template = sqlite_template
    run_state_machine_as_test(
        GrantMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            derandomize=True,
        ),
    )


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
