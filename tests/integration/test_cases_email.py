"""Support's email channel end to end: email sent through real SMTP on loopback into
``postroom mail serve``'s handler, cases stored on the real store (SQLite, and
PostgreSQL in the PostgreSQL pass), acknowledgements and agents' replies read back from
the test SMTP server, and ``postroom mail import`` / ``mail inbound`` on the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.cases.mail_model import Outcome
from postroom.core.cases.model import Actor, Channel, Contact, MessageKind
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.errors import NotFound, ValidationError
from postroom.core.hookspecs import hookimpl
from postroom.core.identity.model import Registration
from postroom.frontends import smtp
from postroom.frontends.cli import cli

AGENT = Actor.staff(1, "Alex Agent")
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\n"


class Inbound:
    """postroom with its inbound SMTP server on a free loopback port, sending its own
    email to the test SMTP server."""

    def __init__(self, pr: Postroom, port: int, outgoing: Any) -> None:
        self.pr = pr
        self.port = port
        self.outgoing = outgoing

    def send(self, message: EmailMessage, *, sender: str | None = None) -> tuple[int, str]:
        """Send ``message`` through SMTP; the server's answer to DATA."""
        envelope = sender if sender is not None else message["From"].addresses[0].addr_spec
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            client.ehlo("test.example")
            client.mail(envelope)
            client.rcpt("support@acme.example")
            code, answer = client.data(message.as_bytes(policy=SMTP_POLICY))
        return code, answer.decode()


@pytest.fixture
def inbound(
    database_url: str, data_dir: Path, clock: FrozenClock, smtp_server: Any
) -> Iterator[Inbound]:
    config = Config.load(
        {},
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret",
        mail_from="Acme Support <support@acme.example>",
        cases_mail_per_hour=3,
        cases_mail_max_bytes=200_000,
        cases_attachment_max_bytes=50_000,
        **smtp_server.settings,
    )
    with Postroom.open(config=config, clock=clock, immediate_jobs=True) as pr:
        server = smtp.start(pr.case_mail, "127.0.0.1", 0)
        try:
            yield Inbound(pr, server.port, smtp_server)
        finally:
            server.stop()


def email(
    sender: str = "Ann Smith <ann@example.com>",
    subject: str = "Meter locked",
    message_id: str = "<m1@example.com>",
    body: str = "My meter says LOCKED since this morning.",
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@acme.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def verified_user(pr: Postroom, address: str, language: str = "en") -> str:
    """A verified portal user (and their new customer account); the account's number."""
    link = pr.identity.register(
        Registration(
            email=address,
            password="correct horse battery staple",
            security_question="Q?",
            security_answer="A",
            name="Chris Customer",
            company="Acme",
            phone="+1 202 555 0143",
            language=language,
        )
    )
    assert link is not None
    user = pr.identity.verify(link.token)
    assert user.account_number is not None
    return user.account_number


def test_a_new_email_opens_a_case_acknowledged_with_its_number_in_the_thread(
    inbound: Inbound,
) -> None:
    code, answer = inbound.send(email())
    assert code == 250
    assert answer.endswith("opened C-2026-000001")
    case = inbound.pr.cases.find("C-2026-000001")
    assert case is not None
    assert case.channel is Channel.EMAIL
    assert case.customer_number is None
    assert (case.contact.email, case.contact.name) == ("ann@example.com", "Ann Smith")
    [ack] = inbound.outgoing.wait_for(1)
    assert ack["To"].addresses[0].addr_spec == "ann@example.com"
    assert ack["Subject"] == "[C-2026-000001] Re: Meter locked"
    assert ack["In-Reply-To"] == "<m1@example.com>"
    assert ack["Message-ID"].startswith("<case.C-2026-000001.")
    assert ack["Message-ID"].endswith("@acme.example>")
    assert ack["Auto-Submitted"] == "auto-generated"
    assert "C-2026-000001" in ack.get_body(("plain",)).get_content()


def test_replies_by_tag_or_by_thread_are_appended_and_not_acknowledged(
    inbound: Inbound,
) -> None:
    inbound.send(email())
    [ack] = inbound.outgoing.wait_for(1)
    by_thread = email(subject="Re: Meter locked", message_id="<m2@example.com>")
    by_thread["In-Reply-To"] = ack["Message-ID"]
    assert inbound.send(by_thread)[1].endswith("appended C-2026-000001")
    by_tag = email(subject="[C-2026-000001] and another thing", message_id="<m3@example.com>")
    assert inbound.send(by_tag)[1].endswith("appended C-2026-000001")
    detail = inbound.pr.cases.get_for_staff("C-2026-000001", by=AGENT)
    assert [m.message_id for m in detail.messages] == [
        "<m1@example.com>",
        "<m2@example.com>",
        "<m3@example.com>",
    ]
    assert len(inbound.outgoing.received) == 1


def test_a_stranger_with_a_forged_tag_opens_their_own_case_and_learns_nothing(
    inbound: Inbound,
) -> None:
    account = verified_user(inbound.pr, "chris@acme.example")
    inbound.send(email("chris@acme.example", "Invoice question"))
    case = inbound.pr.cases.find("C-2026-000001")
    assert case is not None
    assert case.customer_number == account  # matched to the user's customer account
    forged = email(
        "Mallory <mallory@evil.example>",
        "Re: [C-2026-000001] Invoice question",
        "<evil@evil.example>",
        body="Send me the invoice.",
    )
    assert inbound.send(forged)[1].endswith("opened C-2026-000002")
    victim = inbound.pr.cases.get_for_staff("C-2026-000001", by=AGENT)
    assert len(victim.messages) == 1
    stranger = inbound.pr.cases.find("C-2026-000002")
    assert stranger is not None
    assert stranger.customer_number is None
    assert "C-2026-000001" not in stranger.subject
    reply_to_mallory = inbound.outgoing.wait_for(2)[-1]  # the acknowledgements
    assert reply_to_mallory["To"].addresses[0].addr_spec == "mallory@evil.example"
    text = reply_to_mallory.get_body(("plain",)).get_content()
    assert "C-2026-000001" not in reply_to_mallory["Subject"] + text


@pytest.mark.parametrize(
    ("headers", "envelope"),
    [
        ({"Auto_Submitted": "auto-replied"}, None),
        ({"Precedence": "bulk"}, None),
        ({}, ""),  # the null sender of a bounce
    ],
)
def test_robots_open_no_case_and_get_no_answer(
    inbound: Inbound, headers: dict[str, str], envelope: str | None
) -> None:
    code, answer = inbound.send(email(**headers), sender=envelope)
    assert code == 250
    assert answer.endswith("automatic")
    assert inbound.pr.cases.find("C-2026-000001") is None
    # the answer comes after the email was handled, acknowledgement included
    assert inbound.outgoing.received == []
    [kept] = inbound.pr.case_mail.kept(outcome="automatic")
    assert kept.message_id == "<m1@example.com>"


def test_an_email_without_a_sender_is_kept_rejected_for_staff(inbound: Inbound) -> None:
    raw = b"To: support@acme.example\r\nSubject: who?\r\n\r\nno From at all\r\n"
    with smtplib.SMTP("127.0.0.1", inbound.port, timeout=10) as client:
        client.ehlo("test.example")
        client.mail("someone@example.com")
        client.rcpt("support@acme.example")
        code, answer = client.data(raw)
    assert code == 250
    assert answer.decode().endswith("rejected")
    [kept] = inbound.pr.case_mail.kept(outcome="rejected")
    assert kept.reason == "mail_no_sender"
    assert inbound.pr.case_mail.original(kept.id) == raw


def test_an_oversize_email_is_refused_by_smtp(inbound: Inbound) -> None:
    code, _answer = inbound.send(email(body=("x" * 99 + "\n") * 2500))
    assert code == 552
    assert inbound.pr.case_mail.kept() == []


def test_a_flood_is_rate_limited_told_once_and_kept(inbound: Inbound) -> None:
    answers = [
        inbound.send(email(subject=f"spam {n}", message_id=f"<f{n}@example.com>"))[1]
        for n in range(5)
    ]
    assert [a.split(": ")[1].split()[0] for a in answers] == ["opened"] * 3 + ["rate_limited"] * 2
    sent = inbound.outgoing.wait_for(4)
    notices = [m for m in sent if m["Subject"].startswith("Too many messages")]
    assert len(notices) == 1
    assert len(inbound.pr.case_mail.kept(outcome="rate_limited")) == 2


def test_one_email_at_fault_in_a_batch_fails_alone_the_others_are_kept_and_answered_250(
    inbound: Inbound,
) -> None:
    """Emails of concurrent SMTP clients are kept in one transaction; when one of them
    fails, the batch is rolled back and taken again one email at a time."""
    pr = inbound.pr
    entered = threading.Event()
    pause = threading.Event()

    def listener(session: Any, case: Any, message: Any) -> None:
        if not entered.is_set():  # the first email holds its batch: four gather behind it
            entered.set()
            for _ in range(10_000):
                if pr.case_mail.batches.waiting >= 4:
                    break
                pause.wait(0.001)
        if "poison" in case.subject:
            raise ValidationError("refused", code="case_refused")
        if "bug" in case.subject:
            raise RuntimeError("a bug in one email's path")

    pr.cases.add_message_listener(listener)

    def send(subject: str) -> tuple[int, str]:
        return inbound.send(email(f"{subject}@example.com", subject, f"<{subject}@example.com>"))

    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(send, "first")
        assert entered.wait(10)
        rest = {s: pool.submit(send, s) for s in ("two", "poison", "bug", "five")}
        answers = {"first": first.result(10), **{s: f.result(10) for s, f in rest.items()}}
    assert pr.case_mail.batches.largest == 4
    assert answers["poison"][0] == 250
    assert answers["poison"][1].endswith("rejected")
    assert answers["bug"][0] == 451  # its sending server tries again: nothing lost
    opened = [answers[s] for s in ("first", "two", "five")]
    assert {code for code, _answer in opened} == {250}
    # the batch's transaction was rolled back whole: the numbers have no gap
    numbers = sorted(answer.rsplit(" ", 1)[1] for _code, answer in opened)
    assert numbers == ["C-2026-000001", "C-2026-000002", "C-2026-000003"]
    assert pr.cases.find("C-2026-000004") is None
    kept = {k.sender: k for k in pr.case_mail.kept()}
    assert set(kept) == {f"{s}@example.com" for s in ("first", "two", "poison", "five")}
    assert (kept["poison@example.com"].outcome, kept["poison@example.com"].reason) == (
        Outcome.REJECTED,
        "case_refused",
    )
    acknowledged = sorted(m["To"].addresses[0].addr_spec for m in inbound.outgoing.wait_for(3))
    assert acknowledged == ["first@example.com", "five@example.com", "two@example.com"]


def test_attachments_are_kept_by_content_and_a_disguised_one_refused(
    inbound: Inbound, data_dir: Path
) -> None:
    message = email()
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="../receipt.pdf")
    message.add_attachment(
        b"MZ\x90\x00\x03 not a pdf", maintype="application", subtype="pdf", filename="label.pdf"
    )
    inbound.send(message)
    [first] = inbound.pr.cases.get_for_staff("C-2026-000001", by=AGENT).messages
    [kept] = first.attachments
    assert (kept.filename, kept.content_type, kept.size) == (
        "receipt.pdf",
        "application/pdf",
        len(PDF),
    )
    digest = hashlib.sha256(PDF).hexdigest()
    assert kept.sha256 == digest
    stored = data_dir / "cases" / "attachments" / digest[:2] / digest[2:]
    assert stored.read_bytes() == PDF
    assert stored.stat().st_mode & 0o077 == 0
    assert "label.pdf is a Windows executable" in first.body


def test_an_agents_reply_goes_out_tagged_and_threaded_and_its_answer_comes_back(
    inbound: Inbound,
) -> None:
    inbound.send(email())
    [ack] = inbound.outgoing.wait_for(1)
    inbound.pr.cases.reply("C-2026-000001", "Please sync your meter.", by=AGENT)
    assert inbound.pr.outbox.deliver_due() == 1
    reply = inbound.outgoing.wait_for(2)[-1]
    assert reply["Subject"] == "[C-2026-000001] Re: Meter locked"
    assert reply["In-Reply-To"] == "<m1@example.com>"
    assert ack["Message-ID"] in reply["References"]
    assert reply.get_body(("plain",)).get_content().startswith("Please sync your meter.")
    answer = email(subject="Re: [C-2026-000001] Meter locked", message_id="<m2@example.com>")
    answer["In-Reply-To"] = reply["Message-ID"]
    assert inbound.send(answer)[1].endswith("appended C-2026-000001")
    kinds = [m.kind for m in inbound.pr.cases.get_for_staff("C-2026-000001", by=AGENT).messages]
    assert kinds == [MessageKind.CUSTOMER, MessageKind.AGENT, MessageKind.CUSTOMER]


def test_an_agents_reply_on_a_phone_case_reaches_the_account_in_its_language_and_back(
    inbound: Inbound,
) -> None:
    account = verified_user(inbound.pr, "camille@example.fr", language="fr")
    case = inbound.pr.cases.open(
        by=AGENT,
        customer_number=account,
        subject="Meter locked",
        description="The caller's meter says LOCKED.",
        channel="phone",
        contact=Contact(name="Camille", phone="+33 1 23 45 67 89"),
    )
    inbound.pr.cases.reply(case.number, "Merci de synchroniser la machine.", by=AGENT)
    inbound.pr.outbox.deliver_due()
    [reply] = [m for m in inbound.outgoing.messages if case.number in str(m["Subject"])]
    assert reply["To"].addresses[0].addr_spec == "camille@example.fr"
    assert reply["Content-Language"] == "fr"
    assert "Dossier " + case.number in reply.get_body(("plain",)).get_content()
    answer = email(
        "Camille <camille@example.fr>", subject=f"Re: {reply['Subject']}", message_id="<c2@x.fr>"
    )
    assert inbound.send(answer)[1].endswith(f"appended {case.number}")
    detail = inbound.pr.cases.get_for_staff(case.number, by=AGENT)
    assert [m.kind for m in detail.messages][-1] is MessageKind.CUSTOMER


# ------------------------------------------------------------------------ the CLI


def test_mail_import_takes_a_file_standard_input_and_a_maildir(
    runner: CliRunner, tmp_path: Path
) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(email().as_bytes())
    result = runner.invoke(cli, ["mail", "import", str(eml), "--json"])
    assert result.exit_code == 0, result.output
    [taken] = json.loads(result.output)
    assert (taken["outcome"], taken["case_number"]) == ("opened", "C-2026-000001")

    piped = email(message_id="<m2@example.com>", subject="[C-2026-000001] more")
    result = runner.invoke(cli, ["mail", "import", "-"], input=piped.as_bytes())
    assert result.exit_code == 0, result.output
    assert "appended C-2026-000001" in result.output

    maildir = tmp_path / "Maildir"
    for folder in ("new", "cur", "tmp"):
        (maildir / folder).mkdir(parents=True)
    (maildir / "new" / "1.host").write_bytes(
        email("bob@example.com", message_id="<b@x>").as_bytes()
    )
    (maildir / "new" / "2.host").write_bytes(b"Subject: no sender\r\n\r\nbody\r\n")
    result = runner.invoke(cli, ["mail", "import", str(maildir), "--json"])
    assert result.exit_code == 0, result.output
    outcomes = [(r["outcome"], r["case_number"]) for r in json.loads(result.output)]
    assert outcomes == [("opened", "C-2026-000002"), ("rejected", None)]
    assert list((maildir / "new").iterdir()) == []
    assert sorted(p.name for p in (maildir / "cur").iterdir()) == ["1.host:2,S", "2.host:2,S"]

    listed = runner.invoke(cli, ["mail", "inbound", "--outcome", "rejected", "--json"])
    [rejected] = json.loads(listed.output)
    assert rejected["reason"] == "mail_no_sender"
    raw = runner.invoke(cli, ["mail", "inbound", "--raw", str(rejected["id"])])
    assert raw.stdout_bytes == b"Subject: no sender\r\n\r\nbody\r\n"


def test_mail_import_bad_input_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    missing = runner.invoke(cli, ["mail", "import", str(tmp_path / "nope.eml")])
    assert missing.exit_code == 2
    assert "neither a file nor a maildir" in missing.output
    not_maildir = runner.invoke(cli, ["mail", "import", str(tmp_path)])
    assert not_maildir.exit_code == 2
    outcome = runner.invoke(cli, ["mail", "inbound", "--outcome", "lost"])
    assert outcome.exit_code == 1
    assert "[invalid_outcome]" in outcome.output
    unknown = runner.invoke(cli, ["mail", "inbound", "--raw", "999"])
    assert unknown.exit_code == 1
    assert "[mail_not_found]" in unknown.output
    big = tmp_path / "big.eml"
    big.write_bytes(email(body="x" * 100).as_bytes())
    too_big = runner.invoke(
        cli, ["mail", "import", str(big)], env={"POSTROOM_CASES_MAIL_MAX_BYTES": "50"}
    )
    assert too_big.exit_code == 1
    assert "[mail_too_large]" in too_big.output


def test_an_attachment_is_served_only_to_who_may_see_its_case(inbound: Inbound) -> None:
    message = email()
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="receipt.pdf")
    inbound.send(message)
    digest = hashlib.sha256(PDF).hexdigest()
    files = inbound.pr.case_files
    for viewer in (AGENT, Actor.contact("ann@example.com")):
        ref, content = files.read("C-2026-000001", digest, by=viewer)
        assert (ref.filename, content) == ("receipt.pdf", PDF)
    other = inbound.pr.accounts.create("Other Co", "US", "USD")
    for stranger in (
        Actor.contact("mallory@evil.example"),
        Actor.customer(other.number, 9, "Eve"),
    ):
        with pytest.raises(NotFound) as hidden:
            files.read("C-2026-000001", digest, by=stranger)
        assert hidden.value.code == "case_not_found"
    with pytest.raises(NotFound) as unknown:
        files.read("C-2026-000001", "0" * 64, by=AGENT)
    assert unknown.value.code == "attachment_not_found"
    # a file on an internal note stays with staff
    secret = files.take("notes.txt", b"internal findings")
    inbound.pr.cases.add_note("C-2026-000001", "see file", by=AGENT, attachments=[secret])
    assert files.read("C-2026-000001", secret.sha256, by=AGENT)[1] == b"internal findings"
    with pytest.raises(NotFound):
        files.read("C-2026-000001", secret.sha256, by=Actor.contact("ann@example.com"))


def test_an_upload_is_checked_by_content(inbound: Inbound) -> None:
    with pytest.raises(ValidationError) as refused:
        inbound.pr.case_files.take("invoice.pdf", b"MZ\x90\x00 executable")
    assert refused.value.code == "attachment_disguised"
    with pytest.raises(ValidationError) as too_big:
        inbound.pr.case_files.take("big.txt", b"x" * 60_000)
    assert too_big.value.code == "attachment_too_large"


def test_postroom_mail_serve_takes_email_until_stopped(
    cli_env: dict[str, str], smtp_server: Any
) -> None:
    env = {**os.environ, **cli_env, **smtp_server.env, "POSTROOM_SMTP_SECURITY": "none"}
    server = subprocess.Popen(
        [sys.executable, "-m", "postroom.frontends.cli", "mail", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        port = 0
        for line in server.stderr:  # the server says where it listens once it does
            if line.startswith("postroom inbound SMTP on "):
                port = int(line.rsplit(":", 1)[1])
                break
        assert port, "mail serve did not start"
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("test.example")
            client.mail("ann@example.com")
            client.rcpt("support@acme.example")
            code, answer = client.data(email().as_bytes(policy=SMTP_POLICY))
        assert (code, answer.decode().split(": ")[1]) == (250, "opened C-2026-000001")
        [ack] = smtp_server.wait_for(1)
        assert ack["Subject"] == "[C-2026-000001] Re: Meter locked"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0


class EicarScanner:
    name = "eicar"

    def scan(self, content: bytes) -> str | None:
        return "Eicar-Test-Signature" if b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in content else None


class ScannerPlugin:
    @hookimpl
    def register_virus_scanners(self) -> list[EicarScanner]:
        return [EicarScanner()]


class BrokenScannerPlugin:
    @hookimpl
    def register_virus_scanners(self) -> list[EicarScanner]:
        raise ImportError("clamd bindings missing")


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [
        (ScannerPlugin(), "refused by the virus scanner: Eicar-Test-Signature"),
        (BrokenScannerPlugin(), "could not be checked by the virus scanner"),
    ],
)
def test_a_virus_scanner_plugin_has_the_last_word(
    config: Config, clock: FrozenClock, plugin: object, reason: str
) -> None:
    with Postroom.open(config=config, clock=clock, extra_plugins=[("scanner", plugin)]) as pr:
        message = email()
        eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
        message.add_attachment(eicar, maintype="text", subtype="plain", filename="eicar.txt")
        received = pr.case_mail.receive(message.as_bytes())
        assert received.outcome.value == "opened"
        [first] = pr.cases.get_for_staff("C-2026-000001", by=AGENT).messages
        assert first.attachments == ()
        assert reason in first.body
