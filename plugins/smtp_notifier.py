"""The email notifier: the outbox's email messages sent through an SMTP server.

Settings ``POSTROOM_SMTP_*`` and ``POSTROOM_MAIL_FROM`` (core/config.py). Each message
goes as multipart/alternative text + HTML in its reader's language, with a Message-Id
that is the same on every retry of one outbox message (``core.mail.compose``). Any
failure (server down, TLS refused, login or recipient rejected) raises, so the outbox
retries with backoff and an admin sees the last error.

Without ``POSTROOM_SMTP_HOST`` (the embedded default) the same email is kept in the
maildir ``mail/`` of the data directory instead, and ``postroom mail outbox`` lists it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

import attrs

from postroom.core.clock import Clock
from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.mail import (
    MAILDIR_NAME,
    LocalMailbox,
    compose,
    email_address,
    sender_address,
)
from postroom.core.meters.alerts import DATA_CENTER
from postroom.core.ports import Notification, Notifier

log = logging.getLogger(__name__)


class SmtpTransport:
    """One SMTP session per message: connect, secure, log in, send, quit."""

    def __init__(self, config: Config) -> None:
        assert config.smtp_host is not None
        self.host = config.smtp_host
        self.port = config.smtp_resolved_port
        self.security = config.smtp_security
        self.username = config.smtp_username
        self.password = config.smtp_password or ""
        self.timeout = config.smtp_timeout
        self.ca_file = config.smtp_ca_file

    def _tls(self) -> ssl.SSLContext:
        # Certificate and host name checked; a private CA comes from POSTROOM_SMTP_CA_FILE.
        return ssl.create_default_context(
            cafile=None if self.ca_file is None else str(self.ca_file)
        )

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        session: smtplib.SMTP
        if self.security == "tls":
            session = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls()
            )
        else:
            session = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with session:
            if self.security == "starttls":
                session.starttls(context=self._tls())
            if self.username:
                session.login(self.username, self.password)
            refused = session.send_message(message, from_addr=sender, to_addrs=[recipient])
            if refused:  # only one recipient: SMTPRecipientsRefused covers it, but be sure
                raise smtplib.SMTPRecipientsRefused(refused)


@attrs.frozen
class MaildirTransport:
    """The embedded default: keep the email in the data directory's maildir."""

    mailbox: LocalMailbox

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        self.mailbox.deliver(message)


class EmailNotifier:
    """Sends ``email`` channel messages whose recipient is an email address (a customer's
    message arrives here once per addressee, already resolved by the outbox)."""

    name = "email"
    channels = ("email",)

    def __init__(
        self,
        transport: SmtpTransport | MaildirTransport,
        clock: Clock,
        sender: str,
        data_center: str | None = None,
    ) -> None:
        self.transport = transport
        self.clock = clock
        self.sender = sender
        self.data_center = data_center

    def send(self, notification: Notification) -> None:
        recipient = notification.recipient
        if recipient == DATA_CENTER and self.data_center:
            recipient = self.data_center
        address = email_address(recipient)
        if address is None:
            # A customer with nobody to write to, or a name no address is set for:
            # retrying cannot make an address, the log notifier keeps the trace.
            log.info(
                "no email address for %s: message %s (%s) not emailed",
                notification.recipient,
                notification.id,
                notification.kind,
            )
            return
        message = compose(
            attrs.evolve(notification, recipient=address),
            sender=self.sender,
            now=self.clock.now(),
        )
        self.transport.send(message, sender_address(self.sender), address)


@hookimpl
def register_notifiers(config: Config, clock: Clock) -> list[Notifier]:
    transport: SmtpTransport | MaildirTransport
    if config.smtp_host:
        transport = SmtpTransport(config)
    else:
        transport = MaildirTransport(LocalMailbox(config.data_dir / MAILDIR_NAME))
    return [EmailNotifier(transport, clock, config.mail_from, config.mail_data_center)]
