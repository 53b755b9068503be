"""How a notification becomes an email: parts, headers, a Message-Id stable across
retries, clickable links, and no header injection."""

from __future__ import annotations

import email.policy
import re
from datetime import UTC, datetime

import attrs
import pytest

from postroom.core import mail
from postroom.core.errors import ValidationError
from postroom.core.mail import compose, email_address, message_id, text_to_html
from postroom.core.ports import Notification

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SENDER = "Acme Postage <postage@acme.example>"
NOTICE = Notification(
    recipient="olive@customer.example",
    subject="Refill returned",
    body="Your refill of 20.00 USD was returned.\n\nDetails: https://portal.example/refills?id=7&x=1.",
    id="msg_0123456789abcdef01234567",
    kind="meter.refill_returned",
    language="en",
    data={"addressee_name": "Olive Owner"},
)


def test_an_email_has_the_text_and_an_html_alternative_with_its_headers() -> None:
    message = compose(NOTICE, sender=SENDER, now=NOW)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"] == SENDER
    assert message["To"] == "Olive Owner <olive@customer.example>"
    assert message["Subject"] == "Refill returned"
    assert message["Date"] == "Mon, 02 Mar 2026 09:30:00 +0000"
    assert message["Content-Language"] == "en"
    assert message["Auto-Submitted"] == "auto-generated"
    plain = message.get_body(("plain",))
    assert plain is not None
    assert plain.get_content().startswith("Your refill of 20.00 USD was returned.")


def test_the_message_id_is_the_same_on_every_retry_and_differs_per_recipient() -> None:
    first = compose(NOTICE, sender=SENDER, now=NOW)["Message-ID"]
    again = compose(NOTICE, sender=SENDER, now=NOW.replace(hour=10))["Message-ID"]
    other = compose(
        Notification(**{**_fields(NOTICE), "recipient": "omar@customer.example"}),
        sender=SENDER,
        now=NOW,
    )["Message-ID"]
    assert first == again
    assert first != other
    assert first.startswith("<msg_0123456789abcdef01234567.")
    assert first.endswith("@acme.example>")


def test_an_outbox_id_with_characters_a_message_id_cannot_hold_still_makes_one() -> None:
    made = message_id("refill_returned:PM-1:3", "a@b.example", "acme.example")
    assert made.startswith("<refill_returned-PM-1-3.")
    assert ":" not in made


def test_without_html_the_text_is_escaped_and_its_links_are_clickable() -> None:
    page = text_to_html("Hello <script>alert(1)</script>\nSee https://x.example/a?b=1&c=2.", "fr")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert '<a href="https://x.example/a?b=1&amp;c=2">https://x.example/a?b=1&amp;c=2</a>.' in page
    assert '<html lang="fr">' in page
    assert "<br>" in page


def test_the_senders_html_is_used_when_the_message_has_one() -> None:
    message = compose(
        Notification(**{**_fields(NOTICE), "html": "<p>Own <b>HTML</b></p>"}),
        sender=SENDER,
        now=NOW,
    )
    html = message.get_body(("html",))
    assert html is not None
    assert html.get_content().strip() == "<p>Own <b>HTML</b></p>"


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "Hello\r\nBcc: victim@example.org"},
        {"subject": "Hello\nBcc: victim@example.org"},
        {"data": {"addressee_name": "Olive\r\nBcc: victim@example.org"}},
        {"recipient": "olive@customer.example\r\nBcc: victim@example.org"},
        {"language": "en\nBcc: victim@example.org"},
        {"subject": "Hello\u2028Bcc: victim@example.org"},
        {"subject": "Hello\x85Bcc: victim@example.org"},
        {"subject": "Hello\x0bBcc: victim@example.org"},
        {"subject": "Hello\x00"},
    ],
)
def test_a_line_break_or_control_character_in_a_header_is_refused(
    change: dict[str, object],
) -> None:
    with pytest.raises(ValidationError) as refused:
        compose(Notification(**{**_fields(NOTICE), **change}), sender=SENDER, now=NOW)
    assert refused.value.code == "mail_header_injection"


def test_a_sender_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        compose(NOTICE, sender="postage@acme.example\r\nBcc: x@y.example", now=NOW)
    assert refused.value.code == "mail_header_injection"


def test_a_tab_and_accented_text_are_fine_in_a_subject() -> None:
    message = compose(
        Notification(**{**_fields(NOTICE), "subject": "Recharge\tretournée — 20,00 €"}),
        sender=SENDER,
        now=NOW,
    )
    assert message["Subject"] == "Recharge\tretournée — 20,00 €"


def test_only_email_addresses_are_sent_to() -> None:
    assert email_address("olive@customer.example") == "olive@customer.example"
    assert email_address("customer:10000000001") is None
    assert email_address("data-center") is None
    assert email_address("10000000001") is None
    assert email_address("two@at@signs.example") is None


def _fields(notification: Notification) -> dict[str, object]:
    return {
        name: getattr(notification, name)
        for name in (
            "recipient",
            "subject",
            "body",
            "channel",
            "kind",
            "data",
            "id",
            "language",
            "html",
            "translations",
        )
    }


def test_a_threaded_message_carries_its_own_message_id_and_what_it_answers():
    message = compose(
        Notification(
            recipient="ann@example.com",
            subject="[C-2026-000001] Re: Meter locked",
            body="Please sync.",
            id="msg_1",
            data={
                "message_id": "<case.C-2026-000001.ab@acme.example>",
                "in_reply_to": "<m1@example.com>",
                "references": "<m0@example.com> <m1@example.com>",
            },
        ),
        sender="support@acme.example",
        now=datetime(2026, 12, 2, tzinfo=UTC),
    )
    assert message["Message-ID"] == "<case.C-2026-000001.ab@acme.example>"
    assert message["In-Reply-To"] == "<m1@example.com>"
    assert message["References"] == "<m0@example.com> <m1@example.com>"


def test_a_line_break_in_a_threading_header_is_refused():
    with pytest.raises(ValidationError) as refused:
        compose(
            Notification(
                recipient="ann@example.com",
                subject="x",
                body="y",
                data={"in_reply_to": "<a@b>\r\nBcc: victim@example.com"},
            ),
            sender="support@acme.example",
            now=datetime(2026, 12, 2, tzinfo=UTC),
        )
    assert refused.value.code == "mail_header_injection"


def test_short_headers_go_out_as_they_are_and_long_or_unicode_ones_are_folded_and_encoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The email's bytes are what the standard library's compat32 writes (the fast path
    for short ASCII headers changes no byte), and its boundaries split it right."""
    notice = attrs.evolve(
        NOTICE,
        subject="Réponse à votre demande de remboursement, très longue " * 3,
        body="Bonjour,\n\n--===============0000000000000000000==\nnot a boundary\n",
        language="fr",
        data={
            "addressee_name": "Zoë Ünicode",
            "message_id": "<case.C-2026-000001.abc@acme.example>",
            "references": " ".join(f"<ref{n}.long-enough@example.com>" for n in range(20)),
        },
    )
    ours = mail.render(notice, sender=SENDER, now=NOW)
    monkeypatch.setattr(mail, "_WIRE", email.policy.compat32.clone(linesep="\r\n"))
    theirs = mail.render(notice, sender=SENDER, now=NOW)

    def boundaries(raw: bytes) -> bytes:
        return re.sub(rb"={15}\d+==", b"BOUNDARY", raw)

    assert boundaries(ours) == boundaries(theirs)
    headers = ours.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert all(len(line) <= 998 for line in headers)  # SMTP's line limit
    readable = compose(notice, sender=SENDER, now=NOW)
    assert readable["Subject"] == notice.subject
    assert readable["To"] == "Zoë Ünicode <olive@customer.example>"
    assert len(readable["References"].split()) == 20
    body = readable.get_body(("plain",))
    assert body is not None
    assert "not a boundary" in body.get_content()
