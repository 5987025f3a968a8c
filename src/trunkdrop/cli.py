"""The `trunkdrop` command: serve, demo, keys, db, audit, plan."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError

from trunkdrop import __version__
from trunkdrop.cli_help import database_errors, settings_help
from trunkdrop.config import DEVELOPMENT_KEY_PASSPHRASE, Settings
from trunkdrop.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(
    help="trunkdrop: in-car delivery platform.",
    epilog=settings_help(),
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="API keys and signing keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        first = e.errors()[0]
        name = "TRUNKDROP_" + str(first["loc"][0]).upper() if first.get("loc") else "settings"
        _fail(f"{name}: {first['msg'].removeprefix('Value error, ')}")


def _version(show: bool) -> None:
    if show:
        typer.echo(f"trunkdrop {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """trunkdrop: in-car delivery platform."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="API processes on the port (PostgreSQL only)")
    ] = 1,
    workers: Annotated[
        bool,
        typer.Option(
            "--workers/--no-workers",
            help="run the workers in the API processes (--no-workers: `trunkdrop worker` does)",
        ),
    ] = True,
) -> None:
    """Run the HTTP API (upgrades the database first), with the in-process workers unless
    --no-workers."""
    import os

    import uvicorn

    from trunkdrop.operations import logs

    settings = _settings()
    url = settings.resolved_database_url
    if processes > 1 and not url.startswith("postgresql"):
        _fail(
            "--processes: several API processes need PostgreSQL (set TRUNKDROP_DATABASE_URL);"
            " SQLite serves from one process"
        )
    from trunkdrop.migrate import upgrade

    with database_errors(url, _fail):
        upgrade(url)
    typer.echo(f"database: {_redact(url)}", err=True)
    if settings.key_passphrase.get_secret_value() == DEVELOPMENT_KEY_PASSPHRASE:
        typer.echo(
            "warning: TRUNKDROP_KEY_PASSPHRASE is not set: signing keys are sealed with the "
            "published development passphrase (fine on your machine, never in production)",
            err=True,
        )
    typer.echo(f"pages at http://{host}:{port}/app, API docs at /docs", err=True)
    logs.configure(json=settings.log_format == "json")
    # The API processes read their settings from the environment (uvicorn starts them).
    os.environ["TRUNKDROP_WORKERS_INLINE"] = "true" if workers else "false"
    os.environ["TRUNKDROP_SERVE_PROCESSES"] = str(processes)
    uvicorn.run(
        "trunkdrop.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        log_config=None,
        log_level="info",
    )


@app.command()
def worker(
    name: Annotated[
        str, typer.Option(help="this worker's name, unique among the running workers")
    ] = "1",
) -> None:
    """Run the workers as their own process: commands to the cars, the cars' reports, the
    relock watchdog, sweeps, re-planning, webhooks and messages. Several may run at once
    (PostgreSQL); each writes its heartbeat to worker_heartbeats."""
    import signal
    import threading

    from trunkdrop.bootstrap import bootstrap
    from trunkdrop.operations import logs, wakeups
    from trunkdrop.operations import service as operations
    from trunkdrop.workers import PlannerThread, RelayThread, WorkerThread

    settings = _settings()
    if not name.replace("-", "").isalnum() or len(name) > 32:
        _fail("--name: letters, digits and '-' only, at most 32")
    logs.configure(json=settings.log_format == "json")
    platform = bootstrap(settings, role="worker", worker_name=name)
    me, started = f"{name}@{operations.worker_id()}", platform.now()

    def beat(failed: list[str]) -> None:
        with platform.uow() as session:
            operations.beat(
                session=session,
                worker=me,
                started_at=started,
                now=platform.now(),
                last_step="pass",
                failed_steps=failed,
            )
            operations.forget_silent(session=session, now=platform.now(), after=timedelta(days=1))

    beat([])
    runner = WorkerThread(platform, on_pass=beat)
    unwake = wakeups.on_commands(runner.wake)
    listener = wakeups.listen(platform.engine, settings.resolved_database_url)
    threads: list[WorkerThread | PlannerThread | RelayThread] = [runner, RelayThread(platform)]
    if settings.auto_replan:
        threads.append(PlannerThread(platform))
    for thread in threads:
        thread.start()
    typer.echo(f"worker {me} running", err=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    for thread in reversed(threads):
        thread.stop()
    unwake()
    if listener is not None:
        listener.stop()
    platform.close()


@app.command()
def cars(
    broker: Annotated[
        str | None,
        typer.Option(help="mqtt://[user:password@]host[:port]; default TRUNKDROP_MQTT_URL"),
    ] = None,
    topic_root: Annotated[
        str | None, typer.Option(help="topic root; default TRUNKDROP_MQTT_TOPIC_ROOT")
    ] = None,
    client_prefix: Annotated[
        str, typer.Option(help="MQTT client ids are <prefix>-<brand>-<car>")
    ] = "trunkdrop-car",
    clock: Annotated[
        str, typer.Option(help="system (real time) or follow (the world clock on the broker)")
    ] = "system",
    session_expiry: Annotated[
        int, typer.Option(min=0, help="seconds the broker keeps a car's session while away")
    ] = 86_400,
    state_file: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="keep the cars' lids, locks and places here and take them up on restart",
        ),
    ] = None,
) -> None:
    """Run the simulated cars as their own process, speaking only MQTT (no database)."""
    import signal
    import threading

    from trunkdrop.vehicles.adapters.mqtt.fleet import Fleet
    from trunkdrop.vehicles.adapters.mqtt.link import BrokerAddress, LinkUnavailable
    from trunkdrop.vehicles.adapters.mqtt.topics import Topics

    settings = _settings()
    url = broker or (settings.mqtt_url.get_secret_value() if settings.mqtt_url else None)
    if url is None:
        _fail("--broker: give the broker's URL (or set TRUNKDROP_MQTT_URL)")
    if clock not in ("system", "follow"):
        _fail(f"--clock: {clock!r} is neither system nor follow")
    try:
        address = BrokerAddress.parse(url)
        topics = Topics(topic_root or settings.mqtt_topic_root)
    except ValueError as e:
        _fail(f"--broker: {e}" if "URL" in str(e) else f"--topic-root: {e}")
    fleet = Fleet(
        url,
        topics=topics,
        client_prefix=client_prefix,
        follow_clock=clock == "follow",
        session_expiry_s=session_expiry,
        state_file=state_file,
    )
    try:
        fleet.start(wait_s=10.0)
    except LinkUnavailable as e:
        _fail(f"--broker: {e}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        _fail(f"--state-file: cannot take up {state_file}: {e}")
    typer.echo(f"cars on mqtt://{address.host}:{address.port} under {topics.root}/", err=True)
    runner = threading.Thread(target=fleet.run, name="trunkdrop-cars", daemon=True)
    runner.start()
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    fleet.stop()
    runner.join(timeout=5)


@app.command()
def demo(
    database: Annotated[Path | None, typer.Option(help="SQLite file to create afresh")] = None,
) -> None:
    """Run a small day of trunk deliveries through the real services and print the timelines."""
    from trunkdrop.demo import main

    settings = _settings()
    main(database or settings.data_dir / "demo.db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (Alembic)."""
    from trunkdrop.migrate import upgrade

    settings = _settings()
    with database_errors(settings.resolved_database_url, _fail):
        upgrade(settings.resolved_database_url)
    typer.echo(f"database is up to date: {_redact(settings.resolved_database_url)}")


@contextmanager
def _database(*, migrate: bool = True) -> Iterator[Session]:
    """One unit of work on the configured database (brought up to date first)."""
    from trunkdrop.migrate import upgrade
    from trunkdrop.operations import wakeups
    from trunkdrop.store.engine import make_engine, make_session_factory
    from trunkdrop.store.uow import unit_of_work

    settings = _settings()
    if migrate:
        with database_errors(settings.resolved_database_url, _fail):
            upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    # A revoked key must reach the running API processes at once (PostgreSQL NOTIFY).
    wakeups.announce()
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


@keys_app.command("create")
def keys_create(
    role: Annotated[
        str, typer.Option(help="customer, retailer, carrier, driver, carmaker or operator")
    ],
    name: Annotated[str, typer.Option(help="the party's name")],
    carrier: Annotated[
        str | None, typer.Option(help="for a driver: the carrier's party id")
    ] = None,
    brand: Annotated[
        str | None, typer.Option(help="for a car maker: the brand adapter it reports for")
    ] = None,
    email: Annotated[
        str | None, typer.Option(help="the party's e-mail address: messages, sign-in links")
    ] = None,
) -> None:
    """Create a party and its API key. The key is printed once, alone on the last line."""
    from trunkdrop.bootstrap import adapters
    from trunkdrop.parties import service as parties
    from trunkdrop.vehicles.adapters.simulator import CarSimulator

    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        _fail(f"--email: {email!r} is not an e-mail address")
    now = datetime.now(UTC)
    brands = [adapter.metadata.brand for adapter in adapters(CarSimulator())]
    try:
        with _database() as session:
            party = parties.create_party(
                session=session,
                role=role,
                name=name,
                carrier_id=carrier,
                brand=brand,
                brands=brands,
                now=now,
            )
            if email is not None:
                parties.update_preferences(session=session, party=party, changes={"email": email})
            key = parties.create_api_key(session=session, party=party, now=now)
            party_id = party.id
    except DomainError as e:
        _fail(f"--{e.field or 'role'}: {e.detail}")
    typer.echo(f"created {role} {name!r} with id {party_id}")
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(
    party: Annotated[str, typer.Option(help="the party id whose API keys are revoked")],
) -> None:
    """Revoke every API key of a party (a leaked key, a driver who left). Running API
    processes refuse them within seconds."""
    from trunkdrop.parties import service as parties

    try:
        with _database() as session:
            count = parties.revoke_api_keys(
                session=session, by=None, party_id=party, now=datetime.now(UTC)
            )
    except DomainError as e:
        _fail(f"--party: {e.detail}")
    typer.echo(f"revoked {count} API key(s) of {party}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new grant-signing key; older keys still verify the grants they signed."""
    from trunkdrop.access import service as access

    passphrase = _settings().key_passphrase.get_secret_value()
    try:
        with _database() as session:
            kid = access.rotate_signing_key(
                session=session, passphrase=passphrase, now=datetime.now(UTC)
            ).kid
    except DomainError as e:
        _fail(e.detail)
    typer.echo(f"new signing key {kid} is now current")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the audit trail; name every altered, missing or inserted entry."""
    from trunkdrop.access import audit

    with _database(migrate=False) as session:
        report = audit.verify(session=session)
    for problem in report.problems:
        typer.echo(f"BROKEN: {problem}")
    typer.echo(f"{report.entries} entries; chain {'intact' if report.ok else 'broken'}")
    # Whoever can write the database could rebuild an unkeyed chain: an operator who keeps
    # this line elsewhere can tell a rebuilt chain by its head.
    typer.echo(f"head sha256 {report.head}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def simulate(
    customers: Annotated[int, typer.Option(min=1, max=100_000, help="customers in the city")] = 300,
    seed: Annotated[int, typer.Option(min=0, help="random seed: same seed, same numbers")] = 1,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            help="home, trunk_fixed, trunk_roaming, trunk_roaming_home (repeat; default all)"
        ),
    ] = None,
    solver_iterations: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="planning search iterations per zone")
    ] = 1500,
    jobs: Annotated[int, typer.Option(min=1, max=8, help="strategies simulated side by side")] = 2,
    json_output: Annotated[bool, typer.Option("--json", help="end with one JSON object")] = False,
    report: Annotated[
        Path | None, typer.Option(help="write a self-contained HTML report here")
    ] = None,
) -> None:
    """Simulate a day of deliveries in Munich through the real platform, per strategy."""
    from rich.console import Console

    from trunkdrop.simulation.engine import STRATEGIES
    from trunkdrop.simulation.run import simulate as run_simulation
    from trunkdrop.simulation.run import summary, table

    chosen = strategy or list(STRATEGIES)
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown:
        _fail(f"--strategy: unknown {', '.join(unknown)}; use {', '.join(STRATEGIES)}")
    if report is not None and report.exists() and report.is_dir():
        _fail(f"--report: {report} is a directory")
    outcomes = run_simulation(
        customers=customers,
        seed=seed,
        strategies=chosen,
        solver_iterations=solver_iterations,
        jobs=jobs,
    )
    Console().print(table(outcomes))
    if report is not None:
        from trunkdrop.simulation.report import write_report

        write_report(
            report,
            customers=customers,
            seed=seed,
            outcomes=outcomes,
            parameters={"solver iterations per zone": solver_iterations, "jobs": jobs},
        )
        typer.echo(f"report written to {report.resolve()}")
    if json_output:
        typer.echo(summary(customers, seed, outcomes))


@app.command()
def plan(
    instance_file: Annotated[
        Path | None,
        typer.Argument(help="a VRPRDL/VRPHRDL instance file; none: the shipped sample"),
    ] = None,
    seconds: Annotated[float, typer.Option(help="time budget in seconds")] = 10.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Solve a routing instance with roaming delivery locations and check the plan."""
    from trunkdrop.dispatch.plan_cli import SAMPLE, plan_command

    if instance_file is None:
        typer.echo(f"planning the sample instance {SAMPLE}", err=True)
        instance_file = SAMPLE
    raise typer.Exit(plan_command(instance_file, seconds, seed, json_output))


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
