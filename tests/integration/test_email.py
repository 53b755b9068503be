"""Email for real: the outbox's messages go through a real SMTP server on loopback
(aiosmtpd), in plain SMTP, STARTTLS with a login and implicit TLS, and are read back
as they arrived; without an SMTP host they are kept in the data directory's maildir,
which ``postroom mail outbox`` lists."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import ssl
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.db import UnitOfWork
from postroom.core.errors import ConfigurationError
from postroom.core.money import Money
from postroom.core.outbox import MessageStatus
from postroom.core.ports import Addressee, Notification, Translation
from postroom.frontends.cli import cli
from postroom.frontends.delivery import DeliveryProcess, delivery_process

CUSTOMER = "10000000001"
RETURNED = Notification(
    recipient=f"customer:{CUSTOMER}",
    subject="Your debit was returned",
    body="The bank returned your debit of 20.00 USD.\n\nSee https://portal.example/funds.",
    kind="payment_returned",
    translations={
        "fr": Translation(
            subject="Votre prélèvement a été rejeté",
            body="La banque a rejeté votre prélèvement de 20,00 USD.",
            html="<p>La banque a rejeté votre prélèvement de <b>20,00 USD</b>.</p>",
        )
    },
)
PEOPLE = [
    Addressee("olive@acme.example", "Olive Owner", "fr"),
    Addressee("omar@acme.example", "Omar Operator", "en"),
]


@attrs.define
class Directory:
    people: dict[str, list[Addressee]]

    def addresses(self, customer_number: str) -> Sequence[Addressee]:
        return self.people.get(customer_number, [])


OpenPostroom = Callable[..., AbstractContextManager[Postroom]]
#: the ``smtp_server`` fixture's server (tests/conftest.py ``SmtpServer``)
SmtpServer = Any


@pytest.fixture
def open_postroom(database_url: str, data_dir: Path, clock: FrozenClock) -> OpenPostroom:
    @contextmanager
    def opened(**settings: Any) -> Iterator[Postroom]:
        config = Config.load(
            {}, data_dir=data_dir, database_url=database_url, secret_key="test-secret", **settings
        )
        with Postroom.open(config=config, clock=clock, immediate_jobs=True) as pr:
            pr.outbox.address_book = Directory({CUSTOMER: PEOPLE})
            yield pr

    return opened


def send(pr: Postroom, notification: Notification) -> str:
    def work(uow: UnitOfWork) -> str:
        added = pr.outbox.add(uow.connection, notification)
        uow.commit()
        return str(added.id)

    message_id = pr.db.run(work)
    pr.outbox.deliver([message_id])
    return message_id


def by_recipient(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    return {str(m["To"].addresses[0].addr_spec): m for m in messages}


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_customer_message_arrives_once_per_person_in_their_language(
    open_postroom: OpenPostroom, smtp_server: SmtpServer, clock: FrozenClock
) -> None:
    with open_postroom(
        **smtp_server.settings, mail_from="Acme Postage <postage@acme.example>"
    ) as pr:
        message_id = send(pr, RETURNED)
        assert pr.outbox.message(message_id).status is MessageStatus.DELIVERED

    arrived = by_recipient(smtp_server.messages)
    assert set(arrived) == {"olive@acme.example", "omar@acme.example"}
    assert {tuple(r.rcpt_tos) for r in smtp_server.received} == {
        ("olive@acme.example",),
        ("omar@acme.example",),
    }
    assert {r.mail_from for r in smtp_server.received} == {"postage@acme.example"}

    french = arrived["olive@acme.example"]
    assert french.get_content_type() == "multipart/alternative"
    assert french["Subject"] == "Votre prélèvement a été rejeté"
    assert french["Content-Language"] == "fr"
    assert french["To"] == "Olive Owner <olive@acme.example>"
    assert french["From"] == "Acme Postage <postage@acme.example>"
    assert parsedate_to_datetime(french["Date"]) == clock.now()
    assert "<b>20,00 USD</b>" in html_of(french)
    assert text_of(french).startswith("La banque a rejeté")

    english = arrived["omar@acme.example"]  # no English translation needed: its own text
    assert english["Subject"] == RETURNED.subject
    assert english["Content-Language"] == "en"
    assert '<a href="https://portal.example/funds">' in html_of(english)

    ids = {m["Message-ID"] for m in arrived.values()}
    assert len(ids) == 2
    assert all(i.startswith(f"<{message_id}.") and i.endswith("@acme.example>") for i in ids)


def test_a_message_the_server_deferred_arrives_on_retry_with_the_same_message_id(
    open_postroom: OpenPostroom, smtp_server: SmtpServer, clock: FrozenClock
) -> None:
    smtp_server.defer = 1
    with open_postroom(**smtp_server.settings) as pr:
        message_id = send(pr, attrs.evolve(RETURNED, recipient="someone@example.org"))
        waiting = pr.outbox.message(message_id)
        assert waiting.status is MessageStatus.PENDING
        assert waiting.last_error is not None
        assert "451" in waiting.last_error
        assert smtp_server.messages == []

        clock.advance(waiting.next_attempt_at - clock.now())
        assert pr.jobs.run_now("outbox.deliver") == 1
    [deferred] = smtp_server.deferred
    [arrived] = smtp_server.messages
    assert arrived["Message-ID"] == deferred["Message-ID"]  # the receiver can drop a repeat


def _claimed(pr: Postroom, recipients: Sequence[str]) -> list[Notification]:
    """Messages to ``recipients`` written claimed, as a use case writes them."""

    def write(uow: UnitOfWork) -> list[Notification]:
        added = [
            pr.outbox.add(uow.connection, attrs.evolve(RETURNED, recipient=r), claimed=True)
            for r in recipients
        ]
        uow.commit()
        return added

    return pr.db.run(write)


def test_the_background_sender_sends_a_batch_through_one_smtp_session(
    open_postroom: OpenPostroom, smtp_server: SmtpServer, clock: FrozenClock
) -> None:
    smtp_server.defer = 1  # the first one is answered "try again later"
    with open_postroom(**smtp_server.settings) as pr:
        written = _claimed(pr, [f"person{n}@example.org" for n in range(5)])
        ids = [str(message.id) for message in written]
        with pr.outbox.background_sender() as sender:
            pr.outbox.hand_over(written)
            sender.drain()
        assert len({r.peer for r in smtp_server.received}) == 1  # one session for the batch
        assert sorted(m["To"] for m in smtp_server.messages) == [
            f"person{n}@example.org" for n in range(1, 5)
        ]
        deferred = pr.outbox.message(ids[0])
        assert (deferred.status, deferred.attempts) == (MessageStatus.PENDING, 1)
        assert deferred.last_error is not None
        assert "451" in deferred.last_error
        clock.advance(deferred.next_attempt_at - clock.now())  # retried with backoff
        assert pr.jobs.run_now("outbox.deliver") == 1
        assert pr.outbox.counts()["delivered"] == 5


def test_a_delivery_process_sends_what_it_is_handed_and_another_takes_over_when_it_dies(
    open_postroom: OpenPostroom, smtp_server: SmtpServer
) -> None:
    # postroom mail serve's acknowledgements go out from a process of their own
    with open_postroom(**smtp_server.settings) as pr:
        written = _claimed(pr, [f"person{n}@example.org" for n in range(3)])
        with delivery_process(pr) as delivery:
            pr.outbox.hand_over(written[:2])
            delivery.drain()
            assert sorted(m["To"] for m in smtp_server.messages) == [
                "person0@example.org",
                "person1@example.org",
            ]
            first = delivery.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            assert delivery.ended(timeout=10)
            pr.outbox.hand_over(written[2:])  # a new process takes it
            delivery.drain()
            assert delivery.pid not in (None, first)
        assert smtp_server.messages[-1]["To"] == "person2@example.org"
        assert pr.outbox.counts()["delivered"] == 3
    assert delivery.pid is None  # ended with the block


def test_a_delivery_process_that_cannot_open_the_site_says_so(data_dir: Path) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postroom"
    config = Config.load({}, data_dir=data_dir, database_url=unreachable, secret_key="s")
    with pytest.raises(ConfigurationError) as refused:
        DeliveryProcess(config).start()
    assert refused.value.code == "delivery_failed"
    assert "StorageUnavailable" in refused.value.message


def test_a_server_that_is_down_leaves_the_message_pending_for_a_retry(
    open_postroom: OpenPostroom,
) -> None:
    down = {"smtp_host": "127.0.0.1", "smtp_port": _closed_port(), "smtp_security": "none"}
    with open_postroom(**down, smtp_timeout=5) as pr:
        message_id = send(pr, attrs.evolve(RETURNED, recipient="someone@example.org"))
        waiting = pr.outbox.message(message_id)
    assert waiting.status is MessageStatus.PENDING
    assert waiting.attempts == 1
    assert waiting.last_error is not None
    assert "ConnectionRefusedError" in waiting.last_error


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe closes


def test_a_line_break_in_the_subject_is_refused_and_nothing_is_sent(
    open_postroom: OpenPostroom, smtp_server: SmtpServer
) -> None:
    injected = attrs.evolve(
        RETURNED, recipient="someone@example.org", subject="Hi\r\nBcc: victim@example.net"
    )
    with open_postroom(**smtp_server.settings) as pr:
        message_id = send(pr, injected)
        refused = pr.outbox.message(message_id)
    assert refused.status is MessageStatus.PENDING
    assert refused.last_error is not None
    assert "line break" in refused.last_error
    assert smtp_server.received == []


def test_data_center_messages_go_to_the_configured_address(
    open_postroom: OpenPostroom, smtp_server: SmtpServer
) -> None:
    alert = Notification(
        recipient="data-center", subject="Meter PM-1: registers mismatch", body="..."
    )
    with open_postroom(**smtp_server.settings, mail_data_center="ops@vendor.example") as pr:
        send(pr, alert)
    [arrived] = smtp_server.messages
    assert arrived["To"] == "ops@vendor.example"


def test_a_customer_with_nobody_to_write_to_gets_no_email(
    open_postroom: OpenPostroom, smtp_server: SmtpServer
) -> None:
    with open_postroom(**smtp_server.settings) as pr:
        message_id = send(pr, attrs.evolve(RETURNED, recipient="customer:10000000999"))
        done = pr.outbox.message(message_id)
    assert done.status is MessageStatus.DELIVERED  # nothing to retry: no address exists
    assert smtp_server.received == []


def test_a_returned_debit_reaches_the_customers_people_by_email(
    open_postroom: OpenPostroom, smtp_server: SmtpServer
) -> None:
    ach = {
        "routing_number": "111000025",
        "account_number": "000123456789",
        "account_type": "checking",
        "account_holder": "Acme Inc.",
    }
    with open_postroom(**smtp_server.settings) as pr:
        customer = pr.accounts.create("Acme", "US", "USD")
        pr.address_book = Directory({customer.number: PEOPLE})
        bank = pr.funding.add_instrument(customer.number, "ach-debit", ach)
        debit = pr.funding.deposit(customer.number, bank.id, Money.parse("20.00 USD"), "d1")
        pr.funding.record_return(debit.id, "R01")
        [told] = pr.outbox.messages()
        assert told.status is MessageStatus.DELIVERED
    arrived = by_recipient(smtp_server.messages)
    assert set(arrived) == {"olive@acme.example", "omar@acme.example"}
    for message in arrived.values():
        assert message["Subject"] == "Your payment of 20.00 USD was returned (R01)"
        assert f"payment {debit.id} of 20.00 USD" in text_of(message)


# ---------------------------------------------------------------------------- TLS


@attrs.frozen
class Certificate:
    pem: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pem, self.key)
        return context


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1, valid today by the real clock (TLS
    checks validity against the system time, not postroom's)."""
    from datetime import UTC, datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "postroom test SMTP")])
    today = datetime.now(UTC)  # the certificate library's notion of now, not postroom's
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(today - timedelta(days=1))
        .not_valid_after(today + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "smtp-cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = tmp_path / "smtp-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(pem, key_file)


def test_starttls_with_a_login_delivers_over_an_encrypted_session(
    open_postroom: OpenPostroom,
    smtp_server_factory: Callable[..., SmtpServer],
    certificate: Certificate,
) -> None:
    server = smtp_server_factory(
        starttls=certificate.server_context(), logins={"mailer": "s3cret-pass"}
    )
    with open_postroom(
        **server.settings,
        smtp_username="mailer",
        smtp_password="s3cret-pass",
        smtp_ca_file=certificate.pem,
    ) as pr:
        message_id = send(pr, attrs.evolve(RETURNED, recipient="someone@example.org"))
        assert pr.outbox.message(message_id).status is MessageStatus.DELIVERED
    [received] = server.received
    assert received.secure
    assert received.login == "mailer"
    assert received.message["Subject"] == RETURNED.subject


def test_a_server_certificate_postroom_does_not_trust_stops_the_delivery(
    open_postroom: OpenPostroom,
    smtp_server_factory: Callable[..., SmtpServer],
    certificate: Certificate,
) -> None:
    server = smtp_server_factory(starttls=certificate.server_context())
    with open_postroom(**server.settings) as pr:  # no CA file: the system's CAs only
        message_id = send(pr, attrs.evolve(RETURNED, recipient="someone@example.org"))
        waiting = pr.outbox.message(message_id)
    assert waiting.status is MessageStatus.PENDING
    assert waiting.last_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in waiting.last_error
    assert server.received == []


def test_a_wrong_password_is_an_error_the_outbox_retries(
    open_postroom: OpenPostroom,
    smtp_server_factory: Callable[..., SmtpServer],
    certificate: Certificate,
) -> None:
    server = smtp_server_factory(
        starttls=certificate.server_context(), logins={"mailer": "s3cret-pass"}
    )
    with open_postroom(
        **server.settings,
        smtp_username="mailer",
        smtp_password="wrong",
        smtp_ca_file=certificate.pem,
    ) as pr:
        message_id = send(pr, attrs.evolve(RETURNED, recipient="someone@example.org"))
        waiting = pr.outbox.message(message_id)
    assert waiting.status is MessageStatus.PENDING
    assert waiting.last_error is not None
    assert "SMTPAuthenticationError" in waiting.last_error
    assert server.received == []


def test_implicit_tls_delivers(
    open_postroom: OpenPostroom,
    smtp_server_factory: Callable[..., SmtpServer],
    certificate: Certificate,
) -> None:
    server = smtp_server_factory(implicit_tls=certificate.server_context())
    with open_postroom(**server.settings, smtp_ca_file=certificate.pem) as pr:
        send(pr, attrs.evolve(RETURNED, recipient="someone@example.org"))
    [received] = server.received
    assert received.secure


# ------------------------------------------------------------------------- maildir


def test_without_an_smtp_host_email_is_kept_in_a_private_maildir(
    open_postroom: OpenPostroom, data_dir: Path, clock: FrozenClock, cli_env: dict[str, str]
) -> None:
    with open_postroom() as pr:
        message_id = send(pr, RETURNED)
        assert pr.outbox.message(message_id).status is MessageStatus.DELIVERED
        kept = pr.mailbox.messages()

    assert {m.to for m in kept} == {
        "Olive Owner <olive@acme.example>",
        "Omar Operator <omar@acme.example>",
    }
    maildir = data_dir / "mail"
    assert stat.S_IMODE(maildir.stat().st_mode) == 0o700
    files = list((maildir / "new").iterdir())
    assert len(files) == 2
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)

    listed = CliRunner(env=cli_env).invoke(cli, ["mail", "outbox", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["to"]: row for row in json.loads(listed.output)}
    french = rows["Olive Owner <olive@acme.example>"]
    assert french["subject"] == "Votre prélèvement a été rejeté"
    assert french["language"] == "fr"
    assert french["date"] == clock.now().isoformat()
    assert french["text"].startswith("La banque a rejeté")

    only = CliRunner(env=cli_env).invoke(cli, ["mail", "outbox", "--to", "omar@acme.example"])
    assert only.exit_code == 0, only.output
    assert "to Omar Operator <omar@acme.example>" in only.output
    assert "The bank returned your debit of 20.00 USD." in only.output
    assert "olive@acme.example" not in only.output


def test_the_mail_outbox_of_a_fresh_installation_is_empty(cli_env: dict[str, str]) -> None:
    listed = CliRunner(env=cli_env).invoke(cli, ["mail", "outbox"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.strip() == "no email kept"
    as_json = CliRunner(env=cli_env).invoke(cli, ["mail", "outbox", "--json"])
    assert json.loads(as_json.output) == []


def test_an_admin_checks_the_mail_settings_with_a_test_email(
    smtp_server: SmtpServer, cli_env: dict[str, str]
) -> None:
    runner = CliRunner(env={**cli_env, **smtp_server.env})
    sent = runner.invoke(cli, ["mail", "test", "--to", "admin@acme.example"])
    assert sent.exit_code == 0, sent.output
    assert "sent msg_" in sent.output
    [arrived] = smtp_server.messages
    assert arrived["To"] == "admin@acme.example"
    assert arrived["Subject"] == "postroom: test email"


def test_a_test_email_that_cannot_go_says_why_and_exits_1(cli_env: dict[str, str]) -> None:
    down = {
        "POSTROOM_SMTP_HOST": "127.0.0.1",
        "POSTROOM_SMTP_PORT": str(_closed_port()),
        "POSTROOM_SMTP_SECURITY": "none",
    }
    failed = CliRunner(env={**cli_env, **down}).invoke(
        cli, ["mail", "test", "--to", "admin@acme.example"]
    )
    assert failed.exit_code == 1
    assert "not sent" in failed.output
    assert "ConnectionRefusedError" in failed.output
    refused = CliRunner(env=cli_env).invoke(cli, ["mail", "test", "--to", "customer:1"])
    assert refused.exit_code == 1
    assert "[invalid_recipient]" in refused.output
