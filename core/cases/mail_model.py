"""The email channel's values and rules: pure, no I/O.

Every inbound email is kept (``KeptEmail``, its raw bytes with it) with the outcome it
had, so nothing sent to support is ever lost: staff list what was rejected, rate
limited or written by a robot, and read the original.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

import attrs

from postroom.core.errors import ValidationError

#: The window the flood limit counts in.
FLOOD_WINDOW = timedelta(hours=1)


class Outcome(StrEnum):
    """What became of an inbound email."""

    OPENED = "opened"  # it opened a case
    APPENDED = "appended"  # it was added to an existing case
    AUTOMATIC = "automatic"  # a robot wrote it (auto-reply, bounce, list): no case, no answer
    REJECTED = "rejected"  # unreadable (no sender, a malformed one)
    RATE_LIMITED = "rate_limited"  # its sender sent too many in the last hour
    DUPLICATE = "duplicate"  # the same Message-Id was taken before


#: Outcomes that count against a sender's hourly limit (what a person sent).
COUNTED = (Outcome.OPENED, Outcome.APPENDED, Outcome.RATE_LIMITED)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@attrs.frozen
class KeptEmail:
    """An inbound email as kept for staff."""

    id: int
    received_at: datetime
    source: str
    envelope_sender: str | None
    sender: str
    subject: str
    message_id: str | None
    outcome: Outcome
    reason: str
    case_number: str | None
    size: int


@attrs.frozen
class Received:
    """What ``receive`` did with one email: its outcome, the case it went to, and why
    (a stable code for everything but a case opened or appended)."""

    kept_id: int
    outcome: Outcome
    case_number: str | None = None
    reason: str = ""
    refused_files: tuple[str, ...] = ()


@attrs.frozen
class Sender:
    """Who an email's sender is to postroom: a user of a customer account (with the
    account's number) or, with ``account`` None, an unknown contact."""

    address: str
    name: str = ""
    account: str | None = None
    user_id: int | None = None
    #: the language a known user reads ("" when unknown: the installation's default)
    language: str = ""


def may_write_to(sender: Sender, contact_email: str, customer_number: str | None) -> bool:
    """Whether ``sender`` may add to a case whose contact is ``contact_email`` and whose
    account is ``customer_number``: only the case's contact or a user of its account. A
    tag or a References header alone never lets anyone else in."""
    if contact_email and sender.address.lower() == contact_email.strip().lower():
        return True
    return customer_number is not None and sender.account == customer_number


def over_limit(sent_in_window: int, per_hour: int) -> bool:
    """Whether one more email from a sender who sent ``sent_in_window`` in the last hour
    is past the flood limit."""
    return sent_in_window >= per_hour


def threaded_subject(case_number: str, subject: str) -> str:
    """``subject`` carrying the case's tag once: ``[C-2026-000123] subject``."""
    tag = f"[{case_number}]"
    return subject if tag in subject else f"{tag} {subject}".strip()


def references(previous: Iterable[str], answered: str | None) -> str:
    """The References header of a reply: the thread so far, then what it answers (RFC
    5322 3.6.4), at most the 20 latest ids (long threads stay within header limits)."""
    ids = list(dict.fromkeys([*previous, *([answered] if answered else [])]))
    return " ".join(ids[-20:])


def parse_outcome(text: object) -> Outcome:
    try:
        return Outcome(str(text))
    except ValueError:
        known = ", ".join(o.value for o in Outcome)
        raise ValidationError(f"outcome is one of {known}", code="invalid_outcome") from None
