"""Where a webhook may go: the URL's host resolved, every address public unless the
settings allow private ones (development, tests). Checked when an endpoint is created and
again before every send (a name can come to resolve elsewhere)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from trunkdrop.webhooks.domain import is_public


class TargetRefused(ValueError):
    """The URL may not be called; the message says why in plain words."""


def check(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("the url must be an absolute https URL")
    if parts.scheme == "http" and not allow_private:
        raise TargetRefused("the url must use https")
    if parts.username or parts.password:
        raise TargetRefused("the url must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise TargetRefused("the url's port is not a number between 0 and 65535") from e
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise TargetRefused(f"the url's host {parts.hostname!r} cannot be resolved") from e
    for *_, sockaddr in infos:
        if not is_public(str(sockaddr[0])):
            raise TargetRefused(
                f"the url's host {parts.hostname!r} resolves to a private, loopback or "
                "link-local address"
            )
