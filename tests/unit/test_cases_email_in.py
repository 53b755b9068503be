"""Reading inbound email (core.cases.email_in): senders, subjects, threading, parts,
charsets, attachments and robots. Pure: no I/O."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from postroom.core.cases.email_in import UnreadableEmail, html_to_text, parse_email


def _mail(**headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Ann Smith <ann@example.com>")
    message["To"] = "support@postroom.example"
    message["Subject"] = headers.pop("Subject", "My meter")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello,\nmy meter is locked.")
    return message


def test_a_plain_message():
    read = parse_email(_mail(Message_ID="<m1@example.com>").as_bytes())
    assert read.sender == "ann@example.com"
    assert read.sender_name == "Ann Smith"
    assert read.subject == "My meter"
    assert read.case_tag is None
    assert read.message_id == "<m1@example.com>"
    assert read.text == "Hello,\nmy meter is locked."
    assert read.html is None
    assert read.automatic is None
    assert read.attachments == ()


def test_the_case_tag_and_threading_headers():
    message = _mail(
        Subject="Re: [c-2026-000123] My meter",
        In_Reply_To="<out.1@postroom.example>",
        References="<m0@example.com> <out.1@postroom.example>",
    )
    read = parse_email(message.as_bytes())
    assert read.case_tag == "C-2026-000123"
    assert read.in_reply_to == ("<out.1@postroom.example>",)
    assert read.thread_ids == ("<out.1@postroom.example>", "<m0@example.com>")


def test_encoded_words_in_subject_and_name_are_decoded():
    raw = (
        b"From: =?utf-8?q?Ren=C3=A9_Dupr=C3=A9?= <rene@example.fr>\r\n"
        b"Subject: =?iso-8859-1?q?Probl=E8me_d'affranchissement?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        b"Ma machine \xe0 affranchir est bloqu\xe9e.\r\n"
    )
    read = parse_email(raw)
    assert read.sender_name == "René Dupré"
    assert read.subject == "Problème d'affranchissement"
    assert read.text == "Ma machine à affranchir est bloquée."


def test_an_unknown_charset_is_read_not_refused():
    raw = (
        b"From: ann@example.com\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\ncaf\xc3\xa9\r\n"
    )
    assert parse_email(raw).text == "café"


def test_html_is_sanitised_and_a_text_version_kept():
    message = EmailMessage()
    message["From"] = "ann@example.com"
    message["Subject"] = "<script>alert(1)</script> hi"
    message.set_content(
        "<p>Hello <b onclick='x()'>there</b><script>alert(1)</script></p><p>Second &amp; last</p>",
        subtype="html",
    )
    read = parse_email(message.as_bytes())
    assert read.html is not None
    assert "<script" not in read.html
    assert "onclick" not in read.html
    assert "<b>there</b>" in read.html
    assert read.text == "Hello there\n\nSecond & last"
    # the subject is text: kept as written, escaped wherever it is shown
    assert read.subject == "<script>alert(1)</script> hi"


def test_multipart_alternative_keeps_the_plain_text():
    message = _mail()
    message.add_alternative("<p>Hello <i>html</i></p>", subtype="html")
    read = parse_email(message.as_bytes())
    assert read.text.startswith("Hello,")
    assert read.html == "<p>Hello <i>html</i></p>\n"


def test_attachments_are_listed_with_their_names_and_bytes():
    message = _mail()
    message.add_attachment(
        b"%PDF-1.7 receipt", maintype="application", subtype="pdf", filename="reçu.pdf"
    )
    message.add_attachment("a,b\n1,2\n", subtype="csv", filename="../../etc/passwd.csv")
    read = parse_email(message.as_bytes())
    assert [(a.name, a.declared_type) for a in read.attachments] == [
        ("reçu.pdf", "application/pdf"),
        ("../../etc/passwd.csv", "text/csv"),
    ]
    assert read.attachments[0].content == b"%PDF-1.7 receipt"


@pytest.mark.parametrize(
    "sender",
    ["", "not an address", "<>", "ann@", "@example.com", "Ann <ann at example.com>"],
)
def test_no_sender_or_a_malformed_one_is_unreadable(sender):
    raw = (f"From: {sender}\r\n" if sender else "") + "Subject: hello\r\n\r\nbody\r\n"
    with pytest.raises(UnreadableEmail) as refused:
        parse_email(raw.encode())
    assert refused.value.code == "mail_no_sender"


def test_reply_to_then_sender_stand_in_for_a_missing_from():
    message = _mail(Reply_To="Bob <bob@example.com>")
    del message["From"]
    assert parse_email(message.as_bytes()).sender == "bob@example.com"
    message = _mail(Sender="carol@example.com")
    message.replace_header("From", "undisclosed")
    assert parse_email(message.as_bytes()).sender == "carol@example.com"


def test_an_empty_message_is_unreadable():
    with pytest.raises(UnreadableEmail) as refused:
        parse_email(b"  \r\n")
    assert refused.value.code == "mail_empty"


def test_header_line_breaks_do_not_survive_in_the_subject():
    raw = b"From: ann@example.com\r\nSubject: one\r\n two\x07\r\n\r\nbody\r\n"
    assert parse_email(raw).subject == "one two"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "auto_submitted"),
        ({"Auto_Submitted": "auto-generated; owner-email=x@example.com"}, "auto_submitted"),
        ({"X_Auto_Response_Suppress": "All"}, "auto_response_suppress"),
        ({"Precedence": "bulk"}, "bulk"),
        ({"Precedence": "list"}, "bulk"),
        ({"Precedence": "junk"}, "bulk"),
        ({"Return_Path": "<>"}, "null_sender"),
        ({"From": "MAILER-DAEMON@mx.example.com"}, "bounce"),
    ],
)
def test_robots_are_recognised(headers, reason):
    assert parse_email(_mail(**headers).as_bytes()).automatic == reason


def test_auto_submitted_no_is_a_person():
    assert parse_email(_mail(Auto_Submitted="no").as_bytes()).automatic is None


def test_the_null_envelope_sender_and_a_delivery_report_are_bounces():
    assert parse_email(_mail().as_bytes(), envelope_sender="").automatic == "null_sender"
    report = (
        b"From: postmaster@mx.example.com\r\nSubject: Undelivered\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n"
    )
    assert parse_email(report).automatic == "bounce"


def test_a_bounce_without_any_sender_is_still_read_as_automatic():
    raw = b"Subject: failure\r\nAuto-Submitted: auto-replied\r\n\r\nbody\r\n"
    read = parse_email(raw)
    assert read.automatic == "auto_submitted"
    assert read.sender == ""


def test_html_to_text_drops_scripts_and_styles():
    assert html_to_text("<style>p{}</style><p>a<br>b</p><script>x</script>") == "a\nb"


def test_controls_and_undecodable_bytes_never_reach_the_case():
    raw = (
        b"From: ann@example.com\r\nSubject: caf\xe9 \x1b[31mred\r\n"
        b"Message-ID: <bad\x01id@example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"line one\x00\x1b[0m\r\nline two\r\n"
    )
    read = parse_email(raw)
    assert read.subject == "caf\ufffd [31mred"
    assert read.text == "line one[0m\nline two"
    assert read.message_id is None


def test_an_overlong_message_id_is_not_taken():
    raw = f"From: ann@example.com\r\nMessage-ID: <{'a' * 300}@x>\r\n\r\nbody\r\n".encode()
    assert parse_email(raw).message_id is None


def test_a_from_the_stdlib_parser_chokes_on_is_read_as_absent():
    # found by the generated tests: the header parser raises AttributeError on this
    raw = b"From: =?utf-8?q?a?=@[\r\nReply-To: bob@example.com\r\n\r\nbody\r\n"
    assert parse_email(raw).sender == "bob@example.com"
