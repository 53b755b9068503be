"""The email notifier: the outbox's email messages sent through an SMTP server.

Settings ``POSTROOM_SMTP_*`` and ``POSTROOM_MAIL_FROM`` (core/config.py). Each message
goes as multipart/alternative text + HTML in its reader's language, with a Message-Id
that is the same on every retry of one outbox message (``core.mail.render``). Any
failure (server down, TLS refused, login or recipient rejected) raises, so the outbox
retries with backoff and an admin sees the last error. A batch of messages (the
outbox's background sender) goes through one SMTP session.

Without ``POSTROOM_SMTP_HOST`` (the embedded default) the same email is kept in the
maildir ``mail/`` of the data directory instead, and ``postroom mail outbox`` lists it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import attrs

from postroom.core.clock import Clock
from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.mail import (
    MAILDIR_NAME,
    LocalMailbox,
    email_address,
    render,
    sender_address,
)
from postroom.core.meters.alerts import DATA_CENTER
from postroom.core.ports import Notification, Notifier

log = logging.getLogger(__name__)


class SmtpTransport:
    """SMTP sessions to the site's server: one per message, or one for a whole batch
    of messages (``session``), which spares each message its connection, TLS
    handshake and login."""

    def __init__(self, config: Config) -> None:
        assert config.smtp_host is not None
        self.host = config.smtp_host
        self.port = config.smtp_resolved_port
        self.security = config.smtp_security
        self.username = config.smtp_username
        self.password = config.smtp_password or ""
        self.timeout = config.smtp_timeout
        self.ca_file = config.smtp_ca_file
        self._open: smtplib.SMTP | None = None
        self._batching = False

    def _tls(self) -> ssl.SSLContext:
        # Certificate and host name checked; a private CA comes from POSTROOM_SMTP_CA_FILE.
        return ssl.create_default_context(
            cafile=None if self.ca_file is None else str(self.ca_file)
        )

    def _connect(self) -> smtplib.SMTP:
        session: smtplib.SMTP
        if self.security == "tls":
            session = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls()
            )
        else:
            session = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                session.starttls(context=self._tls())
            if self.username:
                session.login(self.username, self.password)
        except BaseException:
            session.close()
            raise
        return session

    @contextmanager
    def session(self) -> Iterator[None]:
        """Send every message of the block through one SMTP session (opened at the
        first message, ended with QUIT at the end of the block)."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self._close(quit=True)

    def _close(self, *, quit: bool) -> None:
        session, self._open = self._open, None
        if session is None:
            return
        try:
            if quit:
                session.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            session.close()

    def send(self, message: bytes, sender: str, recipient: str) -> None:
        if not self._batching:
            with self._connect() as session:
                _send_one(session, message, sender, recipient)
            return
        reused = self._open is not None
        if self._open is None:
            self._open = self._connect()
        try:
            _send_one(self._open, message, sender, recipient)
        except smtplib.SMTPServerDisconnected:
            self._close(quit=False)
            if not reused:
                raise
            # the server ended an idle session: once more on a new one (at worst the
            # server had taken it: the same Message-Id lets the receiver drop a repeat)
            self._open = self._connect()
            _send_one(self._open, message, sender, recipient)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError):
            raise  # the server answered and reset the transaction: the session goes on
        except BaseException:
            self._close(quit=False)  # a session in an unknown state is not reused
            raise


def _send_one(session: smtplib.SMTP, message: bytes, sender: str, recipient: str) -> None:
    refused = session.sendmail(sender, [recipient], message)
    if refused:  # only one recipient: SMTPRecipientsRefused covers it, but be sure
        raise smtplib.SMTPRecipientsRefused(refused)


@attrs.frozen
class MaildirTransport:
    """The embedded default: keep the email in the data directory's maildir."""

    mailbox: LocalMailbox

    def send(self, message: bytes, sender: str, recipient: str) -> None:
        self.mailbox.deliver(message)

    def session(self) -> AbstractContextManager[None]:
        return nullcontext()


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

    def batch(self) -> AbstractContextManager[None]:
        """The messages sent in the block go through one SMTP session
        (``ports.BatchNotifier``)."""
        return self.transport.session()

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
        message = render(
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
