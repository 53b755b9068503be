"""An inbound email read into what the email channel needs: pure, no I/O.

``parse_email`` takes the raw bytes as they came (SMTP's DATA, a .eml file, a maildir
message) and answers an ``InboundEmail``: who sent it (From, else Reply-To, else
Sender), the subject with its encoded words decoded, the case tag ``[C-YYYY-NNNNNN]``
it carries, its threading headers (Message-Id, In-Reply-To, References), its text
(the plain part; else the HTML part's text), its HTML sanitised with nh3, its
attachments, and whether a robot wrote it (``automatic``: an auto-reply, a bounce, a
list) so the channel never opens a case for it nor answers it, which is how mail loops
start. A message without a usable sender raises ``UnreadableEmail`` with a stable code;
the caller keeps the raw bytes for staff either way.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

import attrs
import nh3

from postroom.core.errors import ValidationError

#: A case number as it travels in a subject: ``[C-2026-000123]``.
CASE_TAG = re.compile(r"\[(C-\d{4}-\d{6})\]", re.IGNORECASE)
#: What a subject and a file name keep at most (longer is cut, never refused).
MAX_SUBJECT = 300
# printable ASCII but < and > (RFC 5322's msg-id is ASCII): at most 250 with the brackets
_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,248}>")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9.-]{1,253}$")
# C0/C1 controls, DEL and the Unicode line separators: never in a one-line header value.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# in a text: controls but line feed and tab
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]+")
# lone surrogates: what the email package leaves of undecodable bytes in a header
_SURROGATES = re.compile("[\ud800-\udfff]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")
_SPACES = re.compile(r"[ \t\r\f\v]+")
#: Senders no person writes from.
_ROBOT_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster"})
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


class UnreadableEmail(ValidationError):
    """An email the channel cannot take (no sender, a malformed one, not an email)."""


@attrs.frozen
class InboundAttachment:
    """A file attached to an email, as it came (checked later by ``attachments``)."""

    name: str
    content: bytes
    declared_type: str


@attrs.frozen
class InboundEmail:
    """What an inbound email says, read once at the edge."""

    sender: str
    sender_name: str
    subject: str
    case_tag: str | None
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str
    html: str | None
    attachments: tuple[InboundAttachment, ...]
    #: why a robot wrote it (``auto_submitted``, ``bounce``...), None for a person
    automatic: str | None
    sent_at: datetime | None

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The Message-Ids this email answers: In-Reply-To first, then References
        from the newest."""
        return tuple(dict.fromkeys((*self.in_reply_to, *reversed(self.references))))


def parse_email(raw: bytes, *, envelope_sender: str | None = None) -> InboundEmail:
    """Read ``raw``; ``envelope_sender`` is SMTP's MAIL FROM when known ("" for the null
    sender ``<>`` of bounces). Raises ``UnreadableEmail`` when no sender can be read
    from a message a person wrote."""
    if not raw.strip():
        raise UnreadableEmail("the email is empty", code="mail_empty")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    automatic = automatic_reason(message, envelope_sender)
    sender, sender_name = _sender(message)
    if sender is None:
        if automatic is None:
            raise UnreadableEmail(
                "the email names no sender (From, Reply-To or Sender) that is an address",
                code="mail_no_sender",
            )
        sender = ""
    subject = one_line(_header(message, "subject"))[:MAX_SUBJECT]
    tag = CASE_TAG.search(subject)
    try:
        text, safe_html, attachments = _content(message)
    except Exception as error:  # a MIME structure the email package cannot walk
        raise UnreadableEmail(
            f"the email's parts cannot be read ({type(error).__name__})", code="mail_malformed"
        ) from error
    return InboundEmail(
        sender=sender,
        sender_name=sender_name,
        subject=subject,
        case_tag=tag.group(1).upper() if tag else None,
        message_id=_first_id(_header(message, "message-id")),
        in_reply_to=_ids(_header(message, "in-reply-to")),
        references=_ids(_header(message, "references")),
        text=text,
        html=safe_html,
        attachments=attachments,
        automatic=automatic,
        sent_at=_date(_header(message, "date")),
    )


def without_tags(subject: str) -> str:
    """``subject`` without any case tag (a new case must not carry another's number)."""
    return one_line(CASE_TAG.sub(" ", subject))


def automatic_reason(message: Message, envelope_sender: str | None = None) -> str | None:
    """Why ``message`` was written by a robot (RFC 3834 and the usual conventions), or
    None when a person wrote it."""
    auto_submitted = _header(message, "auto-submitted").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return "auto_submitted"
    if _header(message, "x-auto-response-suppress"):
        return "auto_response_suppress"
    if _header(message, "precedence").strip().lower() in _BULK_PRECEDENCE:
        return "bulk"
    if envelope_sender is not None and envelope_sender.strip("<> ") == "":
        return "null_sender"
    if _header(message, "return-path").strip() == "<>":
        return "null_sender"
    if _content_type(message) == "multipart/report":
        return "bounce"
    for _name, address in getaddresses([_header(message, "from"), _header(message, "sender")]):
        if address.partition("@")[0].lower() in _ROBOT_LOCAL_PARTS:
            return "bounce"
    return None


def one_line(value: str) -> str:
    """A header value on one line: controls and line breaks become one space, bytes
    that were not text the replacement character."""
    return _SPACES.sub(" ", _CONTROLS.sub(" ", _SURROGATES.sub("\ufffd", value))).strip()


def clean_text(value: str) -> str:
    """A body's text fit to store: line breaks as line feeds, other control characters
    and undecodable bytes gone (a NUL cannot even be stored by PostgreSQL)."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    return _TEXT_CONTROLS.sub("", _SURROGATES.sub("\ufffd", text)).strip()


def html_to_text(markup: str) -> str:
    """The readable text of an HTML part: tags, scripts and styles gone, entities
    decoded, paragraphs kept as blank lines."""
    marked = re.sub(r"(?i)<\s*(/p|/div|/h[1-6])\b[^>]*>", "\n\n", markup)
    marked = re.sub(r"(?i)<\s*(br|/li|/tr)\b[^>]*>", "\n", marked)
    bare = nh3.clean(marked, tags=set())
    lines = [_SPACES.sub(" ", line).strip() for line in html.unescape(bare).splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def sanitise_html(markup: str) -> str:
    """HTML safe to show to staff: nh3's allow-list (no script, no event handler, no
    javascript: link), links marked ``noopener noreferrer``."""
    return nh3.clean(markup)


# --------------------------------------------------------------------------- inside


def _header(message: Message, name: str) -> str:
    """A header's decoded value ("" when absent or unreadable: a malformed header is
    read as absent, never as an error of the whole message)."""
    try:
        value = message.get(name)
    except Exception:  # the stdlib's header parser has its own bugs on hostile input
        return ""
    return "" if value is None else str(value)


def _content_type(message: Message) -> str:
    try:
        return message.get_content_type()
    except Exception:  # a Content-Type the stdlib cannot parse: plain text, as RFC 2045 says
        return "text/plain"


def _sender(message: Message) -> tuple[str | None, str]:
    for field in ("from", "reply-to", "sender"):
        for name, address in getaddresses([_header(message, field)]):
            clean = address.strip().lower()
            if _ADDRESS.match(clean):
                return clean, one_line(name)[:200]
    return None, ""


def _ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MESSAGE_ID.findall(value)))[:50]


def _first_id(value: str) -> str | None:
    found = _MESSAGE_ID.search(value)
    return found.group(0) if found else None


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None


def _decoded(part: Message) -> str:
    """A text part's content as text, whatever its charset claims: an unknown or wrong
    charset is read as UTF-8 with replacement characters, never an error."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _content(
    message: EmailMessage,
) -> tuple[str, str | None, tuple[InboundAttachment, ...]]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    text = clean_text(_decoded(plain)) if plain is not None else ""
    safe_html = sanitise_html(_decoded(rich)) if rich is not None else None
    if not text and rich is not None:
        text = clean_text(html_to_text(_decoded(rich)))
    bodies = {id(part) for part in (plain, rich) if part is not None}
    attachments: list[InboundAttachment] = []
    for part in message.walk():
        if part.is_multipart() or id(part) in bodies:
            continue
        name = part.get_filename()
        disposition = part.get_content_disposition()
        if name is None and disposition != "attachment" and part.get_content_maintype() == "text":
            continue  # a further text part of the body (a signature, an alternative)
        payload = part.get_payload(decode=True)
        attachments.append(
            InboundAttachment(
                name=one_line(str(name or "attachment")),
                content=payload if isinstance(payload, bytes) else b"",
                declared_type=part.get_content_type(),
            )
        )
    return text, safe_html, tuple(attachments)
