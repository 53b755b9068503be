"""Refunds as the API and ``postroom vault refund* --json`` write them: amounts as
``{"amount", "currency"}`` objects."""

from __future__ import annotations

from typing import Any

from postroom.core.refunds.model import Refund, RefundStatus
from postroom.frontends.serialise import mills, utc


def refund_json(refund: Refund) -> dict[str, Any]:
    approved = refund.status is RefundStatus.APPROVED
    cur = refund.currency
    return {
        "id": refund.id,
        "customer_number": refund.customer_number,
        "meter": refund.serial,
        "operator": refund.operator,
        "currency": cur,
        "reason": refund.reason.value,
        "note": refund.note,
        "status": refund.status.value,
        "pieces": [
            {
                "piece": p.piece,
                "indicium_date": p.indicium_date.isoformat(),
                "usage_transfer_id": p.usage_transfer_id,
                "signature_verified": p.verified,
                "face": mills(p.face, cur),
            }
            for p in refund.pieces
        ],
        "requested_at": utc(refund.requested_at),
        "decided_at": utc(refund.decided_at),
        "agent": refund.agent,
        "decision_note": refund.decision_note,
        "refund_transfer_id": refund.refund_transfer_id if approved else None,
        "fee_transfer_id": refund.fee_transfer_id if approved and refund.fee else None,
        "face": mills(refund.face, cur),
        "fee": mills(refund.fee, cur),
        "net": mills(refund.net, cur),
    }
