"""Outbox messages as ``postroom notifications list --json`` and ``mail test --json``
write them."""

from __future__ import annotations

from typing import Any

from postroom.core.mail import MailedMessage
from postroom.core.outbox import MessageStatus, OutboxMessage


def message_json(message: OutboxMessage) -> dict[str, Any]:
    n = message.notification
    pending = message.status is MessageStatus.PENDING
    return {
        "id": message.id,
        "kind": n.kind,
        "channel": n.channel,
        "recipient": n.recipient,
        "subject": n.subject,
        "language": n.language,
        "translations": sorted(n.translations),
        "data": dict(n.data),
        "status": message.status.value,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at.isoformat() if pending else None,
        "last_error": message.last_error,
        "delivered_to": list(message.delivered_to),
        "created_at": message.created_at.isoformat(),
        "updated_at": message.updated_at.isoformat(),
    }


def mailed_json(message: MailedMessage) -> dict[str, Any]:
    """A message of the local maildir, as ``postroom mail outbox --json`` lists it."""
    return {
        "to": message.to,
        "from": message.sender,
        "subject": message.subject,
        "date": None if message.date is None else message.date.isoformat(),
        "message_id": message.message_id,
        "language": message.language,
        "text": message.text,
    }
