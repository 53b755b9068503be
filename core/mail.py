"""Email: a notification composed as a MIME message, and the local mailbox.

``render`` turns an outbox message into what an email notifier sends: a
multipart/alternative of the plain text and its HTML (the sender's, else the text
escaped with its links made clickable), with From, To, Subject, Date (postroom's
clock), Content-Language and a Message-Id derived from the outbox message's id and the
recipient, so every retry of one message carries the same Message-Id and a receiving
server can drop the repeat. A line break in any header value is refused
(``mail_header_injection``): it would let a subject or name add headers or recipients.

``LocalMailbox`` is the embedded default's mail server: a maildir in the data
directory (private, like the database) that ``postroom mail outbox`` lists.
"""

from __future__ import annotations

import email.policy
import functools
import hashlib
import html
import mailbox
import os
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from email import encoders
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

import attrs

from postroom.core.errors import ValidationError
from postroom.core.files import PRIVATE_FILE, private_dir
from postroom.core.ports import Attachment, Notification

#: The maildir's folder in the data directory.
MAILDIR_NAME = "mail"

_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.?[^@\s<>()\[\],;:\"]*$")
_LINK = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
# What a link ends with in prose but is not part of it: "see https://x.example/a."
_LINK_TRAILER = ".,;:!?)]}'\""
# C0 controls but tab, DEL, C1 controls (NEL among them), and the Unicode line and
# paragraph separators: everything str.splitlines breaks at, and other controls.
_UNFIT = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# Message-Id's left part is a dot-atom: keep the outbox id's letters, digits and - _ .
_NOT_ATOM = re.compile(r"[^A-Za-z0-9_.-]+")
#: SMTP's line length limit (RFC 5322 2.1.1), without the CRLF
_MAX_LINE = 998


class _WirePolicy(email.policy.Compat32):
    """``compat32`` with CRLF line ends, writing a header that needs no folding as it is:
    ``compat32`` sends every value through ``email.header.Header``, which cost more than
    the rest of rendering for the short ASCII headers an email mostly has (issue 14's
    acknowledgements). ``Header`` leaves such a value unchanged too."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and value.isascii()
            and "\r" not in value
            and "\n" not in value
            and len(name) + 2 + len(value) <= (self.max_line_length or 78)
        ):
            return f"{name}: {value}{self.linesep}"
        return str(super()._fold(name, value, sanitize))  # type: ignore[misc]


#: the wire form of an email: CRLF line ends
_WIRE = _WirePolicy(linesep="\r\n")


def check_header(name: str, value: str) -> str:
    """``value`` if it may go into header ``name``. A line break (CR, LF, or any other
    character Python splits lines at) would start a header of the caller's choosing, and
    other control characters have no place in a header: both are refused."""
    if _UNFIT.search(value):
        raise ValidationError(
            f"the {name} of an email may not contain a line break or control character",
            code="mail_header_injection",
        )
    return value


def email_address(recipient: str) -> str | None:
    """The address if ``recipient`` is an email address (``customer:<number>`` and
    names such as ``data-center`` are not), else None."""
    check_header("recipient", recipient)
    text = recipient.strip()
    return text if _ADDRESS.match(text) else None


def message_id(notification_id: str, recipient: str, domain: str) -> str:
    """The Message-Id of the outbox message ``notification_id`` to ``recipient``: the same
    on every retry, and different for each addressee of one customer message."""
    digest = hashlib.sha256(f"{notification_id}\n{recipient.lower()}".encode()).hexdigest()
    atom = _NOT_ATOM.sub("-", notification_id).strip(".-")[:64] or "message"
    return f"<{atom}.{digest[:16]}@{domain}>"


def text_to_html(text: str, language: str) -> str:
    """A plain-text message as a small HTML page: escaped, paragraphs and line breaks
    kept, and ``http(s)://`` links clickable."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(_linked(line) for line in paragraph.splitlines()) + "</p>"
        for paragraph in paragraphs
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}">\n<head><meta charset="utf-8">'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _linked(line: str) -> str:
    parts: list[str] = []
    position = 0
    for match in _LINK.finditer(line):
        url = match.group(0).rstrip(_LINK_TRAILER)
        parts.append(html.escape(line[position : match.start()]))
        parts.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        position = match.start() + len(url)
    parts.append(html.escape(line[position:]))
    return "".join(parts)


@functools.lru_cache(maxsize=64)
def sender_address(sender: str) -> str:
    """The address of a From value such as ``postroom <mail@example.com>`` (kept: the
    site's sender is the same for every email it sends)."""
    check_header("sender", sender)
    address = parseaddr(sender)[1]
    if email_address(address) is None:
        raise ValidationError(f"{sender!r} is not an email address", code="invalid_mail_from")
    return address


def render(notification: Notification, *, sender: str, now: datetime) -> bytes:
    """The email of ``notification`` (whose recipient is an email address) from
    ``sender``, dated ``now``, as the bytes an SMTP server or a maildir takes.

    Built with the standard library's ``compat32`` classes: the ``email.policy.default``
    ones parse every header value they are given and fold it again on output, which
    cost more than the rest of sending an email (issue 14's acknowledgements)."""
    to = email_address(notification.recipient)
    if to is None:
        raise ValidationError(
            f"{notification.recipient!r} is not an email address", code="invalid_recipient"
        )
    from_address = sender_address(sender)
    name = check_header("recipient name", notification.data.get("addressee_name", ""))
    subject = check_header("subject", notification.subject)
    language = check_header("language", notification.language)
    domain = from_address.rpartition("@")[2]
    # A message that is part of a thread (a support case's email) names its own
    # Message-Id, so that a reply to it can be matched, and what it answers.
    threaded = notification.data.get("message_id")
    own_id = (
        check_header("Message-Id", threaded)
        if threaded
        else message_id(notification.id or _fresh_id(now), to, domain)
    )
    answers = [
        (header, check_header(header, notification.data[key]))
        for header, key in (("In-Reply-To", "in_reply_to"), ("References", "references"))
        if notification.data.get(key)
    ]
    rich = notification.html or text_to_html(notification.body, language)
    texts = (notification.body, rich)
    body: Message = MIMEMultipart(
        "alternative",
        _subparts=[_text_part(notification.body, "plain"), _text_part(rich, "html")],
        boundary=_boundary(texts),
    )
    if notification.attachments:
        body = MIMEMultipart(
            "mixed",
            _subparts=[body, *(_attached(a) for a in notification.attachments)],
            boundary=_boundary((*texts, str(body.get_boundary()))),
        )
    body["From"] = _from_header(sender)
    body["To"] = formataddr((name, to), charset="utf-8") if name else to
    # compat32 takes a Header for text it must encode (typeshed knows only str)
    encoded: Any = subject if subject.isascii() else Header(subject, "utf-8")
    body["Subject"] = encoded
    body["Date"] = format_datetime(now)
    body["Message-ID"] = own_id
    for header, value in answers:
        body[header] = value
    # RFC 3834: a robot wrote it; vacation responders keep quiet.
    body["Auto-Submitted"] = "auto-generated"
    body["Content-Language"] = language
    return body.as_bytes(policy=_WIRE)


@functools.lru_cache(maxsize=64)
def _from_header(sender: str) -> str:
    return formataddr(parseaddr(sender), charset="utf-8")


def compose(notification: Notification, *, sender: str, now: datetime) -> EmailMessage:
    """``render``'s email read back as an ``EmailMessage`` (its headers decoded, its
    parts at hand): what a reader of the email sees."""
    message = email.message_from_bytes(
        render(notification, sender=sender, now=now), policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    return message


def _boundary(texts: tuple[str, ...]) -> str:
    """A multipart boundary found in none of ``texts`` (the parts' text as it may go
    out unencoded; base64 never holds one). The generator's own choice compiles a
    regular expression for every email."""
    while True:
        boundary = f"==============={secrets.randbelow(10**19):019d}=="
        if not any(boundary in text for text in texts):
            return boundary


def _text_part(text: str, subtype: str) -> MIMEText:
    # plain ASCII in short lines travels as it is; anything else as UTF-8 in base64
    if text.isascii() and all(len(line) <= _MAX_LINE for line in text.splitlines()):
        return MIMEText(text, subtype, "us-ascii")
    return MIMEText(text, subtype, "utf-8")


def _attached(attachment: Attachment) -> MIMEBase:
    maintype, _, subtype = attachment.content_type.partition("/")
    filename = check_header("attachment name", attachment.filename)
    part = MIMEBase(maintype, subtype or "octet-stream")
    part.set_payload(attachment.content)
    encoders.encode_base64(part)
    part.add_header(
        "Content-Disposition",
        "attachment",
        filename=filename if filename.isascii() else ("utf-8", "", filename),
    )
    return part


def check_message(recipient: str) -> Notification:
    """The email an admin sends to check the mail settings (``postroom mail test``)."""
    address = email_address(recipient)
    if address is None:
        raise ValidationError(f"{recipient!r} is not an email address", code="invalid_recipient")
    return Notification(
        recipient=address,
        subject="postroom: test email",
        body=(
            "This is a test email from postroom. It arrived, so postroom's mail settings "
            "work for this address.\n\nNothing else to do."
        ),
        kind="mail.test",
    )


def _fresh_id(now: datetime) -> str:
    """An id for a message that was never stored (no retry can repeat it)."""
    return f"unstored.{now.timestamp():.6f}.{os.urandom(6).hex()}"


# ----------------------------------------------------------------- the local mailbox


@attrs.frozen
class MailedMessage:
    """An email kept in the local mailbox, as ``postroom mail outbox`` shows it."""

    to: str
    subject: str
    date: datetime | None
    text: str
    html: str | None
    message_id: str
    language: str
    sender: str


class _PrivateMaildir(mailbox.Maildir):
    """A maildir whose message files are 0600 from their creation (mailbox creates them
    0666 less the umask, and postroom never changes the process umask)."""

    def _create_tmp(self) -> IO[bytes]:
        handle: IO[bytes] = super()._create_tmp()  # type: ignore[misc]
        os.fchmod(handle.fileno(), PRIVATE_FILE)
        return handle


class LocalMailbox:
    """The embedded default's outgoing mail: a maildir (``mail/`` in the data directory,
    0700, its messages 0600) instead of an SMTP server."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _maildir(self) -> mailbox.Maildir:
        private_dir(self.path)
        for folder in ("tmp", "new", "cur"):
            private_dir(self.path / folder)
        return _PrivateMaildir(self.path, factory=None, create=True)

    def deliver(self, message: EmailMessage | bytes) -> None:
        """Keep ``message`` (written to ``tmp/``, then moved to ``new/``)."""
        self._maildir().add(message)

    def messages(self, *, to: str | None = None, limit: int = 50) -> list[MailedMessage]:
        """The kept messages, newest first; only those to ``to`` when given."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", code="invalid_limit")
        if not self.path.is_dir():
            return []
        found: list[MailedMessage] = []
        for key, raw in self._maildir().iteritems():
            parsed = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            kept = _mailed(parsed, key)
            if to is None or parseaddr(kept.to)[1].lower() == to.strip().lower():
                found.append(kept)
        found.sort(key=_newest_first)
        return found[:limit]


def _newest_first(message: MailedMessage) -> tuple[float, str]:
    return (-(message.date.timestamp() if message.date else 0.0), message.message_id)


def _mailed(message: EmailMessage, key: str) -> MailedMessage:
    def part(kind: str) -> str | None:
        body = message.get_body(preferencelist=(kind,))
        return None if body is None else str(body.get_content())

    headers: Mapping[str, str] = {k.lower(): str(v) for k, v in message.items()}
    try:
        date = parsedate_to_datetime(headers["date"]) if "date" in headers else None
    except (TypeError, ValueError):
        date = None
    return MailedMessage(
        to=headers.get("to", ""),
        subject=headers.get("subject", ""),
        date=date,
        text=part("plain") or "",
        html=part("html"),
        message_id=headers.get("message-id", key),
        language=headers.get("content-language", ""),
        sender=headers.get("from", ""),
    )
