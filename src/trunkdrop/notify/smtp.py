"""E-mail over SMTP: the message channel to a person with an address."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from trunkdrop.notify.messages import Message
from trunkdrop.notify.ports import ChannelError, Recipient


class SmtpChannel:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, *, timeout_s: float = 10.0) -> None:
        self._host, self._port, self._sender, self._timeout = host, port, sender, timeout_s

    def reaches(self, recipient: Recipient) -> bool:
        return bool(recipient.email)

    def send(self, recipient: Recipient, message: Message) -> None:
        assert recipient.email is not None  # `reaches` said so
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = recipient.email
        mail["Subject"] = f"trunkdrop: {message.subject}"
        mail.set_content(message.body)
        mail["Content-Language"] = message.language  # after: set_content drops Content-*
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as e:
            raise ChannelError(f"SMTP {self._host}:{self._port}: {type(e).__name__}") from e
