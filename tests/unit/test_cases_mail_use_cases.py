"""The email channel's use cases (core.cases.inbound.CaseMail) on fakes: no I/O."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest

from postroom.core.cases.attachments import AttachmentLimits
from postroom.core.cases.inbound import CaseFacts, CaseMail, MailSettings
from postroom.core.cases.mail_model import Outcome, Sender
from postroom.core.cases.model import (
    Actor,
    Case,
    Contact,
    Department,
    Message,
    MessageKind,
    Priority,
    Status,
)
from postroom.core.cases.model import Channel as CaseChannel
from postroom.core.clock import FrozenClock
from postroom.core.errors import ValidationError
from tests.unit.cases_mail_fakes import (
    FakeCase,
    FakeCaseDesk,
    FakeDatabase,
    FakeFiles,
    FakeMessages,
    FakeSenders,
)

PDF = b"%PDF-1.7\n1 0 obj\n"
AGENT = Actor.staff(7, "Alex Agent")


class Channel:
    def __init__(self, *, per_hour: int = 20, max_bytes: int = 100_000) -> None:
        self.clock = FrozenClock.at("2026-12-02T10:00:00+00:00")
        self.db = FakeDatabase()
        self.desk = FakeCaseDesk(self.db)
        self.senders = FakeSenders()
        self.messages = FakeMessages(self.db)
        self.files = FakeFiles()
        self.mail = CaseMail(
            self.db,
            self.clock,
            desk=self.desk,
            senders=self.senders,
            messages=self.messages,
            files=self.files,
            settings=MailSettings(
                domain="support.example",
                per_hour=per_hour,
                max_bytes=max_bytes,
                attachments=AttachmentLimits(max_bytes=1000, max_files=3),
            ),
            repository=self.db.repository,
        )

    @property
    def outbox(self):
        return self.db.state.outbox


def _email(
    sender: str = "ann@example.com",
    subject: str = "Meter locked",
    message_id: str | None = "<m1@example.com>",
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@support.example"
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("My meter says LOCKED.")
    return message


def test_a_new_email_opens_a_case_and_is_acknowledged_in_its_thread():
    channel = Channel()
    received = channel.mail.receive(_email().as_bytes())
    assert received.outcome is Outcome.OPENED
    assert received.case_number == "C-2026-000001"
    case = channel.desk.cases["C-2026-000001"]
    assert case.facts.customer_number is None  # an unknown contact, for staff to link
    assert case.emails[0].body == "My meter says LOCKED."
    [ack] = channel.outbox
    assert ack.recipient == "ann@example.com"
    assert ack.subject == "[C-2026-000001] Re: Meter locked"
    assert "C-2026-000001" in ack.body
    assert ack.data["in_reply_to"] == "<m1@example.com>"
    assert ack.data["message_id"].startswith("<case.C-2026-000001.")
    assert ack.data["message_id"].endswith("@support.example>")
    assert set(ack.translations) == {"fr"}
    assert channel.messages.delivered == [ack.id]
    [kept] = channel.mail.kept()
    assert (kept.outcome, kept.case_number, kept.sender) == (
        Outcome.OPENED,
        "C-2026-000001",
        "ann@example.com",
    )


def test_a_known_user_opens_a_case_of_their_account_in_their_language():
    channel = Channel()
    channel.senders.known["rene@example.fr"] = Sender(
        "rene@example.fr", "René", account="1000001", user_id=7, language="fr"
    )
    channel.mail.receive(_email("René <rene@example.fr>").as_bytes())
    assert channel.desk.cases["C-2026-000001"].facts.customer_number == "1000001"
    [ack] = channel.outbox
    assert ack.language == "fr"
    assert ack.body.startswith("Bonjour René,")


def test_a_reply_with_the_tag_from_the_contact_is_appended_without_an_answer():
    channel = Channel()
    channel.mail.receive(_email().as_bytes())
    reply = _email(subject="Re: [C-2026-000001] Meter locked", message_id="<m2@example.com>")
    received = channel.mail.receive(reply.as_bytes())
    assert (received.outcome, received.case_number) == (Outcome.APPENDED, "C-2026-000001")
    assert len(channel.desk.cases["C-2026-000001"].emails) == 2
    assert len(channel.outbox) == 1  # only the first acknowledgement


def test_a_reply_to_the_acknowledgement_finds_its_case_without_a_tag():
    channel = Channel()
    channel.mail.receive(_email().as_bytes())
    ack_id = channel.outbox[0].data["message_id"]
    reply = _email(subject="Re: Meter locked", message_id="<m2@example.com>", In_Reply_To=ack_id)
    assert channel.mail.receive(reply.as_bytes()).case_number == "C-2026-000001"


def test_a_user_of_the_cases_account_may_add_to_it():
    channel = Channel()
    for address, uid in (("ann@acme.example", 1), ("bob@acme.example", 2)):
        channel.senders.known[address] = Sender(address, account="1000001", user_id=uid)
    channel.mail.receive(_email("ann@acme.example").as_bytes())
    reply = _email("bob@acme.example", "[C-2026-000001] more", "<b1@acme.example>")
    assert channel.mail.receive(reply.as_bytes()).outcome is Outcome.APPENDED


@pytest.mark.parametrize("how", ["tag", "in_reply_to", "references"])
def test_a_stranger_never_gets_into_a_case_by_a_forged_tag_or_thread(how):
    channel = Channel()
    channel.senders.known["ann@acme.example"] = Sender("ann@acme.example", account="1000001")
    channel.mail.receive(_email("ann@acme.example").as_bytes())
    ack_id = channel.outbox[0].data["message_id"]
    headers = {
        "tag": {"subject": "Re: [C-2026-000001] give me the data"},
        "in_reply_to": {"In_Reply_To": ack_id},
        "references": {"References": f"<x@y> {ack_id}"},
    }[how]
    forged = _email("mallory@evil.example", message_id="<evil@evil.example>", **headers)
    received = channel.mail.receive(forged.as_bytes())
    assert (received.outcome, received.case_number) == (Outcome.OPENED, "C-2026-000002")
    assert len(channel.desk.cases["C-2026-000001"].emails) == 1
    stranger_ack = channel.outbox[-1]
    assert stranger_ack.recipient == "mallory@evil.example"
    assert stranger_ack.subject.startswith("[C-2026-000002]")
    assert "C-2026-000001" not in stranger_ack.subject + stranger_ack.body


def test_a_tag_of_a_merged_case_goes_to_the_case_it_was_merged_into():
    channel = Channel()
    channel.mail.receive(_email().as_bytes())
    channel.mail.receive(_email(message_id="<m2@example.com>").as_bytes())
    channel.desk.merged["C-2026-000002"] = "C-2026-000001"
    reply = _email(subject="[C-2026-000002] again", message_id="<m3@example.com>")
    assert channel.mail.receive(reply.as_bytes()).case_number == "C-2026-000001"


def test_a_reply_to_a_long_resolved_case_opens_an_acknowledged_follow_up():
    channel = Channel()
    channel.mail.receive(_email().as_bytes())
    channel.desk.cases["C-2026-000001"].follow_up = True
    reply = _email(subject="[C-2026-000001] again", message_id="<m2@example.com>")
    received = channel.mail.receive(reply.as_bytes())
    assert (received.outcome, received.case_number) == (Outcome.OPENED, "C-2026-000002")
    assert channel.outbox[-1].subject.startswith("[C-2026-000002]")


@pytest.mark.parametrize(
    "header",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X_Auto_Response_Suppress": "OOF"},
    ],
)
def test_robots_never_open_cases_nor_get_an_answer(header):
    channel = Channel()
    received = channel.mail.receive(_email(**header).as_bytes())
    assert received.outcome is Outcome.AUTOMATIC
    assert channel.desk.cases == {}
    assert channel.outbox == []
    assert channel.mail.kept(outcome="automatic")[0].id == received.kept_id


def test_a_bounce_with_the_null_sender_is_kept_and_not_answered():
    channel = Channel()
    received = channel.mail.receive(_email().as_bytes(), envelope_sender="")
    assert received.outcome is Outcome.AUTOMATIC
    assert channel.outbox == []


def test_an_email_without_a_sender_is_rejected_and_kept_for_staff():
    channel = Channel()
    raw = b"Subject: who am I\r\n\r\nno sender here\r\n"
    received = channel.mail.receive(raw, source="file")
    assert (received.outcome, received.reason) == (Outcome.REJECTED, "mail_no_sender")
    assert channel.mail.original(received.kept_id) == raw
    assert channel.desk.cases == {}
    assert channel.outbox == []


def test_a_flood_is_rate_limited_told_once_and_nothing_lost():
    channel = Channel(per_hour=3)
    outcomes = []
    for n in range(6):
        message = _email(message_id=f"<flood{n}@example.com>", subject=f"spam {n}")
        outcomes.append(channel.mail.receive(message.as_bytes()).outcome)
        channel.clock.advance(timedelta(minutes=1))
    assert outcomes == [Outcome.OPENED] * 3 + [Outcome.RATE_LIMITED] * 3
    notices = [m for m in channel.outbox if m.kind == "cases.mail_rate_limited"]
    assert len(notices) == 1
    assert len(channel.mail.kept()) == 6
    # an hour after, the sender is heard again
    channel.clock.advance(timedelta(hours=1))
    later = channel.mail.receive(_email(message_id="<later@example.com>").as_bytes())
    assert later.outcome is Outcome.OPENED


def test_the_same_message_id_twice_is_a_duplicate():
    channel = Channel()
    channel.mail.receive(_email().as_bytes())
    again = channel.mail.receive(_email().as_bytes())
    assert (again.outcome, again.case_number) == (Outcome.DUPLICATE, "C-2026-000001")
    assert len(channel.desk.cases) == 1
    assert len(channel.outbox) == 1


def test_attachments_are_checked_kept_by_content_and_refusals_named():
    channel = Channel()
    message = _email()
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="receipt.pdf")
    message.add_attachment(
        b"MZ\x90\x00evil", maintype="application", subtype="pdf", filename="../invoice.pdf"
    )
    message.add_attachment(b"x" * 2000, maintype="text", subtype="plain", filename="big.txt")
    received = channel.mail.receive(message.as_bytes())
    [stored] = channel.desk.cases[received.case_number].emails[0].attachments
    assert (stored.name, stored.media_type) == ("receipt.pdf", "application/pdf")
    assert channel.files.content[stored.sha256] == PDF
    body = channel.desk.cases[received.case_number].emails[0].body
    assert "[attachments not kept]" in body
    assert "invoice.pdf: invoice.pdf is a Windows executable, not a application/pdf" in body
    assert "big.txt" in body
    assert len(received.refused_files) == 2


def test_an_email_over_the_size_limit_is_refused_before_anything_is_kept():
    channel = Channel(max_bytes=500)
    message = _email()
    message.set_content("x" * 1000)
    with pytest.raises(ValidationError) as refused:
        channel.mail.receive(message.as_bytes())
    assert refused.value.code == "mail_too_large"
    assert channel.mail.kept() == []


def test_an_agent_reply_is_tagged_and_threaded_under_the_cases_emails():
    channel = Channel()
    channel.mail.receive(_email().as_bytes())
    ack_id = channel.outbox[0].data["message_id"]

    def reply(session):
        session.commit()
        return channel.mail.reply_email(
            None,
            "C-2026-000001",
            to="ann@example.com",
            language="en",
            subject="Meter locked",
            body="Please sync your meter.",
        )

    channel.db.run(reply)
    sent = channel.outbox[-1]
    assert sent.subject == "[C-2026-000001] Re: Meter locked"
    assert sent.data["in_reply_to"] == "<m1@example.com>"  # the customer's latest email
    assert sent.data["references"] == f"{ack_id} <m1@example.com>"
    answer = _email(
        subject="Re: Meter locked",
        message_id="<m9@example.com>",
        In_Reply_To=sent.data["message_id"],
    )
    assert channel.mail.receive(answer.as_bytes()).outcome is Outcome.APPENDED


def test_kept_refuses_an_unknown_outcome():
    with pytest.raises(ValidationError) as refused:
        Channel().mail.kept(outcome="lost")
    assert refused.value.code == "invalid_outcome"


def test_an_email_the_cases_area_refuses_is_kept_rejected_not_lost():
    channel = Channel()

    channel.desk.refusal = ValidationError("no", code="subject_too_long")
    received = channel.mail.receive(_email().as_bytes())
    assert (received.outcome, received.reason) == (Outcome.REJECTED, "subject_too_long")
    assert channel.outbox == []
    assert channel.mail.kept()[0].outcome is Outcome.REJECTED


def test_an_email_without_message_id_gets_one_and_threads_all_the_same():
    channel = Channel()
    channel.mail.receive(_email(message_id=None).as_bytes())
    [email] = channel.desk.cases["C-2026-000001"].emails
    assert email.message_id.startswith("<inbound.")
    assert email.message_id.endswith("@support.example>")


def test_a_long_email_is_cut_to_what_a_case_holds_and_kept_whole():
    channel = Channel(max_bytes=200_000)
    message = _email()
    message.set_content("word " * 10_000)
    received = channel.mail.receive(message.as_bytes())
    body = channel.desk.cases[received.case_number].emails[0].body
    assert len(body) <= 20_000
    assert body.endswith("[cut here: the whole email is kept for staff]")
    assert b"word word" in channel.mail.original(received.kept_id)


def test_a_new_cases_subject_drops_another_cases_tag_and_is_cut():
    channel = Channel()
    channel.mail.receive(_email(subject="[C-2026-999999] " + "x" * 300).as_bytes())
    case = channel.desk.cases["C-2026-000001"]
    assert "C-2026-999999" not in case.facts.subject
    assert len(case.facts.subject) == 200


def test_files_past_the_limit_are_named_not_kept():
    channel = Channel()  # at most 3 files an email
    message = _email()
    for n in range(4):
        message.add_attachment(
            f"note {n}".encode(), maintype="text", subtype="plain", filename=f"n{n}.txt"
        )
    received = channel.mail.receive(message.as_bytes())
    [email] = channel.desk.cases[received.case_number].emails
    assert [f.name for f in email.attachments] == ["n0.txt", "n1.txt", "n2.txt"]
    assert received.refused_files == ("n3.txt: more than 3 files",)


# ----------------------------------------- a reply on a case that came another way


def _phone_case(channel: Channel, *, email: str = "", account: str | None = "1000000009"):
    """A case an agent logged from a phone call (the caller's address if they gave one),
    known to the cases area (``desk``), and an agent's reply on it."""
    now = channel.clock.now()
    case = Case(
        id=1,
        number="C-2026-000001",
        customer_number=account,
        contact=Contact(name="Ann", email=email, phone="+1 212 555 0100"),
        department=Department.EQUIPMENT,
        channel=CaseChannel.PHONE,
        subject="Meter locked",
        description="Caller says the meter is locked.",
        priority=Priority.NORMAL,
        status=Status.OPEN,
        opened_at=now,
        updated_at=now,
    )
    channel.desk.cases[case.number] = FakeCase(CaseFacts(case.number, account, email, case.subject))

    def reply(body: str, author: Actor = AGENT, kind=MessageKind.AGENT):  # type: ignore[no-untyped-def]
        message = Message(id=2, case_id=1, kind=kind, author=author, body=body, created_at=now)

        def work(session):  # type: ignore[no-untyped-def]
            channel.mail.on_case_message(session, case, message)
            session.commit()

        channel.db.run(work)

    return case, reply


def test_a_reply_on_a_phone_case_emails_the_accounts_people_in_their_language():
    channel = Channel()
    case, reply = _phone_case(channel)
    reply("Please sync your meter.")
    sent = channel.outbox[-1]
    # the outbox sends one copy per person of the account, each in their language
    assert sent.recipient == "customer:1000000009"
    assert sent.subject == "[C-2026-000001] Re: Meter locked"
    assert "Please sync your meter." in sent.body
    assert "Please sync your meter." in sent.translations["fr"].body
    assert sent.translations["fr"].body.endswith("pour le compléter.\n")
    assert sent.kind == "cases.reply"
    assert not channel.messages.claimed  # the worker sends it
    # an internal note and a system's message are not emailed
    reply("internal", kind=MessageKind.NOTE)
    reply("resolved by the equipment desk", author=Actor.system("equipment"))
    assert len(channel.outbox) == 1
    # a user of the account answers the email: it lands in the case, by its tag
    channel.senders.known["bo@customer.example"] = Sender(
        address="bo@customer.example", account="1000000009", user_id=3, name="Bo"
    )
    answer = _email(
        sender="bo@customer.example",
        subject=sent.subject,
        message_id="<a1@customer.example>",
    )
    received = channel.mail.receive(answer.as_bytes())
    assert (received.outcome, received.case_number) == (Outcome.APPENDED, case.number)


def test_a_reply_goes_to_the_callers_address_in_their_language_when_they_gave_one():
    channel = Channel()
    channel.senders.known["ann@example.com"] = Sender(address="ann@example.com", language="fr")
    _case, reply = _phone_case(channel, email="ann@example.com", account=None)
    reply("Merci de synchroniser.")
    sent = channel.outbox[-1]
    assert (sent.recipient, sent.language) == ("ann@example.com", "fr")
    assert sent.body.startswith("Merci de synchroniser.")
    # threaded back without the tag too: by the Message-Id the reply names
    answer = _email(
        subject="Re: ma question",
        message_id="<a2@example.com>",
        In_Reply_To=sent.data["message_id"],
    )
    assert channel.mail.receive(answer.as_bytes()).outcome is Outcome.APPENDED


def test_a_caller_without_address_nor_account_gets_no_email():
    channel = Channel()
    _case, reply = _phone_case(channel, account=None)
    reply("We called you back.")
    assert channel.outbox == []
