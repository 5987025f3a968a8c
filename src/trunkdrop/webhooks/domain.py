"""Pure rules of webhook delivery: when to try again, and which addresses are off limits."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta


def next_try(
    *,
    tries: int,
    retry_from: datetime,
    now: datetime,
    first_s: float,
    factor: float,
    max_wait_s: float,
    retry_for_s: float,
    jitter: float,
) -> datetime | None:
    """When to try again after `tries` failed tries, or None to give up: exponential
    backoff from `first_s`, each wait at most `max_wait_s`, spread by `jitter` in [0, 1)
    over ±25 % (so that receivers coming back are not hit by every sender at once), and
    no try later than `retry_for_s` after `retry_from`."""
    if tries < 1:
        raise ValueError("tries counts the failed tries so far: at least 1")
    if not 0 <= jitter < 1:
        raise ValueError("jitter must be in [0, 1)")
    wait = min(max_wait_s, first_s * factor ** (tries - 1)) * (0.75 + 0.5 * jitter)
    at = now + timedelta(seconds=wait)
    return None if at > retry_from + timedelta(seconds=retry_for_s) else at


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not private, loopback, link-local,
    shared, multicast, reserved or unspecified); an IPv4 address mapped into IPv6 counts as
    the IPv4 address it carries."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
