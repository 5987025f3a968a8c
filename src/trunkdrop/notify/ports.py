"""The port customer messages leave through; e-mail (SMTP) is one adapter of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trunkdrop.notify.messages import Message


@dataclass(frozen=True, slots=True)
class Recipient:
    party_id: str
    email: str | None


class MessageChannel(Protocol):
    """Sends one message to one person, or raises `ChannelError` (tried again later)."""

    name: str

    def reaches(self, recipient: Recipient) -> bool:
        """Whether this channel has a way to the recipient (an e-mail address)."""
        ...

    def send(self, recipient: Recipient, message: Message) -> None: ...


class ChannelError(Exception):
    """A channel could not send now (its server refused or did not answer)."""
