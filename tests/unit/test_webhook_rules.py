"""The pure webhook rules: the retry schedule and which addresses count as public."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trunkdrop.webhooks.domain import is_public, next_try

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SCHEDULE = {"first_s": 10, "factor": 4, "max_wait_s": 6 * 3600, "retry_for_s": 86_400}


def test_waits_grow_exponentially_within_their_jitter() -> None:
    """10 s, 40 s, 160 s … each within ±25 %, never longer than the cap."""
    for tries, base in [(1, 10), (2, 40), (3, 160), (9, 6 * 3600)]:
        low = next_try(tries=tries, retry_from=T0, now=T0, jitter=0.0, **SCHEDULE)
        high = next_try(tries=tries, retry_from=T0, now=T0, jitter=0.999999, **SCHEDULE)
        assert low == T0 + timedelta(seconds=base * 0.75)
        assert high is not None
        assert T0 + timedelta(seconds=base) < high <= T0 + timedelta(seconds=base * 1.25)


def test_no_try_is_scheduled_past_the_day() -> None:
    """A try that would fall after retry_from + retry_for is not scheduled: give up."""
    late = T0 + timedelta(hours=23)
    assert next_try(tries=8, retry_from=T0, now=late, jitter=0.5, **SCHEDULE) is None
    assert next_try(tries=1, retry_from=T0, now=late, jitter=0.5, **SCHEDULE) is not None


def test_nonsense_is_refused() -> None:
    """Zero tries or a jitter outside [0, 1) is a mistake in the caller."""
    with pytest.raises(ValueError, match="tries"):
        next_try(tries=0, retry_from=T0, now=T0, jitter=0.5, **SCHEDULE)
    with pytest.raises(ValueError, match="jitter"):
        next_try(tries=1, retry_from=T0, now=T0, jitter=1.0, **SCHEDULE)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address judged, not bound
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_are_public(address: str, public: bool) -> None:
    """Private, loopback, link-local, shared, unspecified, mapped and multicast addresses are not public."""
    assert is_public(address) is public
