"""What the `trunkdrop` command tells a newcomer: the settings it reads, and a database it
cannot open said in one line instead of a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

# The settings a first run meets; every other one is in config.py, with its default.
FIRST_SETTINGS = (
    (
        "DATABASE_URL",
        "sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: a SQLite file in DATA_DIR)",
    ),
    ("DATA_DIR", "where the default SQLite database lives (default ./data)"),
    ("ENVIRONMENT", "development, test or production"),
    ("KEY_PASSPHRASE", "seals the signing keys at rest; must be set in production"),
    ("CAR_LINK", "embedded (simulated cars in-process) or mqtt"),
    ("MQTT_URL", "mqtt://USER:PASSWORD@HOST:PORT when CAR_LINK is mqtt"),
    ("SMTP_HOST", "mail server for customer messages and sign-in links (unset: none sent)"),
    ("PUBLIC_URL", "the address people reach the pages at, for links in e-mails"),
    ("MAP_TILE_URL", "a map tile URL template; unset: maps draw on a plain background"),
    ("ROUTING_URL", "an OSRM server for road distances (unset: straight line × detour)"),
)


def settings_help() -> str:
    """The epilog of `trunkdrop --help`: one line per setting."""
    lines = [f"TRUNKDROP_{name}: {what}" for name, what in FIRST_SETTINGS]
    return (
        "Settings come from the environment (prefix TRUNKDROP_); "
        "all of them, with defaults, are in trunkdrop/config.py.\n\n" + "\n".join(lines)
    )


@contextmanager
def database_errors(url: str, fail: Callable[[str], NoReturn]) -> Iterator[None]:
    """Turn a database that cannot be reached or opened into one line through `fail`."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    try:
        yield
    except (OperationalError, ArgumentError, NoSuchModuleError) as e:
        cause = getattr(e, "orig", None) or e
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        fail(f"TRUNKDROP_DATABASE_URL: cannot open {redact(url)}: {reason}")


def redact(url: str) -> str:
    """The URL without its user and password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
