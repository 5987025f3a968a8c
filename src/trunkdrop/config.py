"""Settings read from the environment (prefix TRUNKDROP_); defaults are the embedded setup."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trunkdrop.deliveries.domain import MIN_WINDOW
from trunkdrop.sends.domain import DEFAULT_PRICE_LIST, PostageClass

DEVELOPMENT_KEY_PASSPHRASE = "development-only-not-secret"  # noqa: S105 - refused outside development


class Settings(BaseSettings):
    """Everything configurable, with the defaults from DESIGN.md."""

    model_config = SettingsConfigDict(env_prefix="TRUNKDROP_", extra="ignore")

    environment: str = Field("development", pattern="^(development|test|production)$")
    data_dir: Path = Path("data")
    database_url: str | None = None
    timezone: str = "Europe/Berlin"

    # The passphrase that encrypts signing keys at rest.
    key_passphrase: SecretStr = SecretStr(DEVELOPMENT_KEY_PASSPHRASE)
    grant_issuer: str = "trunkdrop"

    vehicle_radius_m: int = Field(300, ge=10, le=5_000)
    driver_radius_m: int = Field(50, ge=5, le=1_000)
    # A driver's reported positions must follow a track a van can drive: a jump faster than
    # this (beyond the slack a GPS fix wanders by) is refused and audited.
    driver_max_speed_kmh: int = Field(130, ge=20, le=400)
    driver_track_slack_m: int = Field(200, ge=0, le=10_000)
    # How far ahead a shop may book (and checkout offers): a day further out is refused.
    booking_horizon_days: int = Field(60, ge=1, le=366)
    # A parcel at a pickup point waits this many days for its customer, then goes back to
    # the sender (DHL and most carriers: seven).
    pickup_point_hold_days: int = Field(7, ge=1, le=60)
    # Checkout's slots; never shorter than the shortest window a booking takes.
    window_slot_minutes: int = Field(120, ge=MIN_WINDOW // timedelta(minutes=1), le=720)
    service_day_start_hour: int = Field(8, ge=0, le=23)
    service_day_end_hour: int = Field(21, ge=1, le=24)
    grant_lifetime_s: int = Field(600, ge=30, le=3_600)
    command_expiry_s: int = Field(30, ge=1, le=600)
    # A command claimed for sending whose outcome was not recorded this long after (its
    # dispatcher died) is sent again under the same id; the car runs an id once.
    command_claim_timeout_s: int = Field(10, ge=1, le=600)
    # A device's challenge nonce: single use and only this long.
    nonce_lifetime_s: int = Field(60, ge=5, le=600)
    # An expired nonce is kept this long after it ran out, so that presenting it is answered
    # `nonce_expired` rather than `nonce_unknown`; only then does the sweep forget it.
    nonce_retention_s: int = Field(3_600, ge=0, le=86_400)
    relock_after_s: int = Field(300, ge=30, le=3_600)
    relock_retry_s: int = Field(60, ge=5, le=3_600)
    relock_max_tries: int = Field(3, ge=1, le=20)
    # A parked car reports its position at the end of its trip; the report stays true
    # until it moves again, so only a report older than this counts as unknown.
    position_max_age_s: int = Field(43_200, ge=60, le=86_400)
    position_retention_s: int = Field(86_400, ge=0, le=30 * 86_400)
    # A car's reported coordinates go into its event log only within this margin of one of
    # its booked windows (docs/privacy.md); outside, the event is kept without them.
    position_window_margin_s: int = Field(1_800, ge=0, le=86_400)
    # Owners are told this many days before their consent at the car maker runs out.
    carmaker_consent_warn_days: int = Field(14, ge=0, le=90)
    # A car's report may claim a time at most this far past its arrival (clocks drift a
    # little); within it the report counts as made when it arrived, beyond it is refused.
    # Either way no report can claim to be newer than one that arrives after it.
    report_max_ahead_s: int = Field(30, ge=0, le=600)

    # The carrier's price list for sends from the car (as JSON in the environment), and
    # the currency its prices are in.
    postage_classes: tuple[PostageClass, ...] = DEFAULT_PRICE_LIST
    postage_currency: str = Field("EUR", pattern="^[A-Z]{3}$")
    max_weight_g: int = 22_000
    max_length_cm: int = 66
    max_width_cm: int = 53
    max_height_cm: int = 41
    max_declared_value_cents: int = 150_000

    # An OSRM-compatible routing server for road distances; unset: great-circle × detour.
    routing_url: str | None = None

    # The link to the cars: "embedded" runs the simulated cars in this process (nothing
    # else needed); "mqtt" talks to them through an MQTT 5 broker (docs/car-link.md).
    car_link: Literal["embedded", "mqtt"] = "embedded"
    mqtt_url: SecretStr | None = None  # mqtt://[user:password@]host[:port], mqtts:// for TLS
    mqtt_topic_root: str = Field(
        "trunkdrop", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$"
    )
    # The platform's session, kept this long while disconnected. Beside other processes
    # each derives its own id from it, and the workers share the reports under it.
    mqtt_client_id: str = Field("trunkdrop-platform", min_length=1, max_length=64)
    mqtt_session_expiry_s: int = Field(86_400, ge=0, le=30 * 86_400)

    workers_inline: bool = True
    # /ready answers 503 when no `trunkdrop worker` beat this recently (workers elsewhere).
    worker_heartbeat_max_age_s: int = Field(30, ge=2, le=3_600)
    # /metrics needs an operator's key; with this, a scrape from loopback needs none.
    metrics_open_on_localhost: bool = False
    # serve and worker log one JSON object a line (operations.logs); "text" for a terminal.
    log_format: Literal["json", "text"] = "json"
    # Threads per API process for the driver's hot path, one pool for reads and one for
    # writes. SQLite runs one writer at a time and Python one thread at a time: a few keep
    # the database busy, more only wait (and contend for the interpreter lock).
    api_db_threads: int = Field(6, ge=1, le=64)
    worker_interval_s: float = Field(0.5, gt=0, le=60)
    # Re-planning by itself: after a failed stop's fallback, or when a van runs this late.
    auto_replan: bool = True
    late_van_s: int = Field(900, ge=60, le=6 * 3600)
    replan_interval_s: float = Field(30.0, gt=0, le=3600)
    replan_seconds: float = Field(3.0, gt=0, le=600)
    # "insertion": an automatic re-plan keeps the van's order and moves only the stops that
    # would miss their window (a fallback appended at the end, a van running late) to where
    # they fit at least cost: milliseconds, the same answer however busy the machine (the
    # simulation needs that), and no re-ordering the driver has to follow. "search" re-solves
    # the rest of the route for `replan_seconds` on every core.
    replan_by: Literal["search", "insertion"] = "search"
    van_capacity_l: int = Field(6_000, ge=50, le=50_000)
    shift_end_hour: int = Field(21, ge=1, le=24)
    # The carrier's cost model: what planning minimises and the KPIs price (docs/costs.md
    # gives each default's source or says it is an assumption).
    cost_driver_eur_per_hour: float = Field(25.0, ge=0, le=1_000)
    cost_eur_per_km: float = Field(0.25, ge=0, le=100)
    cost_van_eur_per_day: float = Field(35.0, ge=0, le=10_000)
    co2_kg_per_km: float = Field(0.27, ge=0, le=10)
    # A door stop is priced at its expected repeat attempt: miss probability × its cost.
    cost_door_miss_probability: float = Field(0.3, ge=0, le=1)
    cost_repeat_attempt_eur: float = Field(4.0, ge=0, le=1_000)

    # Webhooks (Standard Webhooks): a 2xx within the timeout counts; otherwise the try is
    # repeated after first × factor^(n-1) seconds (at most max_wait, ±25 % jitter) until
    # retry_for has passed, and then the endpoint is disabled and its owner told.
    webhooks_allow_private: bool = False  # private, loopback and link-local targets, plain http
    webhook_timeout_s: float = Field(10.0, gt=0, le=60)
    webhook_retry_first_s: int = Field(10, ge=1, le=3_600)
    webhook_retry_factor: float = Field(4.0, ge=1, le=10)
    webhook_retry_max_wait_s: int = Field(6 * 3_600, ge=1, le=86_400)
    webhook_retry_for_s: int = Field(86_400, ge=60, le=7 * 86_400)
    # After a rotation the old secret signs beside the new one this long.
    webhook_secret_overlap_s: int = Field(86_400, ge=0, le=7 * 86_400)
    webhook_relay_batch: int = Field(200, ge=1, le=5_000)
    webhook_relay_threads: int = Field(16, ge=1, le=256)
    webhook_relay_interval_s: float = Field(1.0, gt=0, le=60)

    # Customer messages by e-mail: unset host, the outbox (push) only.
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65_535)
    smtp_from: str = Field("trunkdrop <noreply@trunkdrop.invalid>", min_length=3, max_length=320)
    smtp_timeout_s: float = Field(10.0, gt=0, le=120)
    # How long a message the mail server keeps refusing is tried before it is given up
    # (like a webhook: a day); the rendered text stays in the outbox for the app's push.
    message_retry_s: int = Field(86_400, ge=60, le=7 * 86_400)

    # The pages (trunkdrop.web): the address people reach them at (links in sign-in
    # e-mails; unset: the address the request came to), and a map tile URL template
    # ({z}/{x}/{y}); unset, maps draw places and routes on a plain background.
    public_url: str | None = None
    map_tile_url: str | None = None
    signin_link_lifetime_s: int = Field(900, ge=60, le=86_400)
    session_lifetime_s: int = Field(12 * 3_600, ge=300, le=30 * 86_400)
    # A shop's checkout session (the widget's pass): long enough to choose, short enough
    # that a token left in a page's HTML is soon worth nothing.
    checkout_session_lifetime_s: int = Field(900, ge=60, le=3_600)
    # Where proof photos are kept (the blob store); unset, `blobs/` under the data dir.
    blob_dir: Path | None = None
    proof_photo_max_bytes: int = Field(2 * 1024 * 1024, ge=1_024, le=20 * 1024 * 1024)

    @field_validator("database_url")
    @classmethod
    def _database_url_we_can_open(cls, url: str | None) -> str | None:
        # Said here in one line: SQLAlchemy's own words for these come as a traceback.
        if not url:
            return url
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme == "postgres":
            raise ValueError("spell it postgresql://… (postgres:// is not understood)")
        if scheme.split("+", 1)[0] not in ("sqlite", "postgresql"):
            raise ValueError("use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")
        return url

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> Settings:
        if (
            self.environment == "production"
            and self.key_passphrase.get_secret_value() == DEVELOPMENT_KEY_PASSPHRASE
        ):
            raise ValueError("TRUNKDROP_KEY_PASSPHRASE must be set to a real secret in production")
        if self.car_link == "mqtt" and self.mqtt_url is None:
            raise ValueError("TRUNKDROP_MQTT_URL must be set when TRUNKDROP_CAR_LINK is mqtt")
        return self

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir if self.blob_dir is not None else self.data_dir / "blobs"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'trunkdrop.db').resolve()}"
