"""Hostile email, generated: whatever bytes arrive, reading them answers an email or
``UnreadableEmail`` (never another error), and what it answers fits a case: no control
character in one-line values, no NUL in texts, only well-formed Message-Ids, safe
attachment names. Pure: no I/O."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.core.cases.attachments import MAX_NAME, safe_name
from postroom.core.cases.email_in import UnreadableEmail, parse_email

HEADERS = st.sampled_from(
    [
        b"From",
        b"Reply-To",
        b"Sender",
        b"Subject",
        b"Message-ID",
        b"In-Reply-To",
        b"References",
        b"Content-Type",
        b"Content-Transfer-Encoding",
        b"Content-Disposition",
        b"Auto-Submitted",
        b"Date",
    ]
)
VALUES = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [
            b"=?utf-8?q?=E9t=E9?=",
            b"=?x-unknown?b?////?=",
            b"multipart/mixed; boundary=b",
            b"text/plain; charset=x-nope",
            b"base64",
            b"attachment; filename*=utf-8''..%2F..%2Fevil.pdf",
            b"<a@b> <c@d",
            b"ann@example.com",
            b"<>",
        ]
    ),
)
_ONE_LINE_UNFIT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


@st.composite
def raw_emails(draw: st.DrawFn) -> bytes:
    lines = [draw(HEADERS) + b": " + draw(VALUES) for _ in range(draw(st.integers(0, 8)))]
    body = draw(st.binary(max_size=300))
    parts = b"--b\r\nContent-Type: " + draw(VALUES) + b"\r\n\r\n" + body + b"\r\n--b--\r\n"
    return b"\r\n".join(lines) + b"\r\n\r\n" + draw(st.sampled_from([body, parts]))


@settings(max_examples=300, deadline=None)
@given(raw_emails())
def test_any_bytes_read_as_an_email_fit_for_a_case_or_unreadable(raw: bytes) -> None:
    try:
        read = parse_email(raw)
    except UnreadableEmail as refused:
        code = refused.code
    else:
        code = ""
    if code:
        assert code in ("mail_empty", "mail_no_sender", "mail_malformed")
        return
    for value in (read.sender, read.sender_name, read.subject):
        assert not _ONE_LINE_UNFIT.search(value)
    assert "\x00" not in read.text
    assert not re.search("[\ud800-\udfff]", read.text)
    for message_id in (read.message_id, *read.in_reply_to, *read.references):
        assert message_id is None or re.fullmatch(r"<[!-;=?-~]{1,248}>", message_id)
    for attachment in read.attachments:
        name = safe_name(attachment.name)
        assert "/" not in name
        assert "\\" not in name
        assert not name.startswith(".")
        assert 0 < len(name) <= MAX_NAME


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_name_becomes_a_safe_one(name: str) -> None:
    safe = safe_name(name)
    assert 0 < len(safe) <= MAX_NAME
    assert not re.search(r'[\x00-\x1f\x7f<>:"|?*\\/\u202e]', safe)
    assert not safe.startswith((".", " "))
