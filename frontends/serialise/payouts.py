"""Payouts as the API and ``postroom payments payout* --json`` write them."""

from __future__ import annotations

from typing import Any

from postroom.core.payouts.model import Payout, PayoutPart, Unmatched
from postroom.frontends.serialise import converter, mills, money, stamp


def payout_part_json(part: PayoutPart) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(part)
    return data


def payout_json(payout: Payout) -> dict[str, Any]:
    currency = payout.payable.currency
    return {
        "id": payout.id,
        "customer_number": payout.customer_number,
        "status": payout.status.value,
        "payable": money(payout.payable),
        "paid": mills(payout.paid, currency),
        "unmatched": mills(payout.unmatched, currency),
        "left_payable": mills(payout.left, currency),
        "refunds": [payout_part_json(p) for p in payout.parts],
        "created_at": stamp(payout.created_at),
        "updated_at": stamp(payout.updated_at),
    }


def unmatched_json(unmatched: Unmatched) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(unmatched)
    return data
