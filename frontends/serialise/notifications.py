"""Outbox messages as ``postroom notifications list --json`` writes them."""

from __future__ import annotations

from typing import Any

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
        "data": dict(n.data),
        "status": message.status.value,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at.isoformat() if pending else None,
        "last_error": message.last_error,
        "delivered_to": list(message.delivered_to),
        "created_at": message.created_at.isoformat(),
        "updated_at": message.updated_at.isoformat(),
    }
