"""The email channel's results as ``postroom mail import --json`` and ``mail inbound
--json`` write them."""

from __future__ import annotations

from typing import Any

from postroom.core.cases.mail_model import KeptEmail, Received


def received_json(received: Received) -> dict[str, Any]:
    return {
        "kept_id": received.kept_id,
        "outcome": received.outcome.value,
        "case_number": received.case_number,
        "reason": received.reason or None,
        "refused_files": list(received.refused_files),
    }


def kept_json(kept: KeptEmail) -> dict[str, Any]:
    return {
        "id": kept.id,
        "received_at": kept.received_at.isoformat(),
        "source": kept.source,
        "envelope_sender": kept.envelope_sender,
        "sender": kept.sender,
        "subject": kept.subject,
        "message_id": kept.message_id,
        "outcome": kept.outcome.value,
        "reason": kept.reason or None,
        "case_number": kept.case_number,
        "size": kept.size,
    }
