"""Values and pure rules of payouts: what a customer is owed back, split over the
payments that can take it back. No I/O; service.py runs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import datetime
from enum import StrEnum

import attrs

from postroom.core.money import Money


class PayoutStatus(StrEnum):
    IN_PROGRESS = "in_progress"  # parts asked of their sources, not all answered yet
    PAID = "paid"  # every part accepted and nothing left unmatched
    PARTIAL = "partial"  # some money stays payable (unmatched or refused): an agent's turn


class PayoutPartStatus(StrEnum):
    REQUESTED = "requested"  # written; the source was asked (or is about to be)
    PENDING = "pending"  # a credit transfer submitted to the bank
    SETTLED = "settled"  # given back (a card refund)
    FAILED = "failed"  # the source refused; the money stays payable
    RETURNED = "returned"  # the bank sent the credit transfer back; payable again


#: Parts whose money stays (or is again) payable: an agent's turn.
NOT_PAID = frozenset({PayoutPartStatus.FAILED, PayoutPartStatus.RETURNED})


@attrs.frozen
class PayoutPart:
    """One refund of a payout against one earlier payment; its id is the source's
    idempotency key."""

    id: str
    payment_id: str
    amount: Money
    source: str
    status: PayoutPartStatus
    source_reference: str
    failure_code: str | None
    failure_message: str
    transfer_id: str | None  # refunds payable -> payment clearing, once the source accepted


@attrs.frozen
class Payout:
    """Money of the refunds-payable account given back to a customer, as refunds of its
    newest settled payments; what none could take back is ``unmatched``."""

    id: str
    customer_number: str
    payable: Money
    unmatched: int
    status: PayoutStatus
    parts: tuple[PayoutPart, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def paid(self) -> int:
        """Mills the sources accepted to give back."""
        return sum(
            p.amount.mills
            for p in self.parts
            if p.status in (PayoutPartStatus.PENDING, PayoutPartStatus.SETTLED)
        )

    @property
    def left(self) -> int:
        """Mills that stay payable: unmatched, parts the source refused and parts the
        bank returned."""
        refused = sum(p.amount.mills for p in self.parts if p.status in NOT_PAID)
        return self.unmatched + refused


@attrs.frozen
class Unmatched:
    """Money payable to a customer that no payment can take back: an agent pays it."""

    customer_number: str
    amount: Money


def match_refunds(
    payable: int, refundable: list[tuple[str, int]]
) -> tuple[list[tuple[str, int]], int]:
    """Spread ``payable`` over ``refundable`` (payment id, what it can still give back;
    newest first): each payment gives back at most its room. Returns the parts and what
    none could take (unmatched)."""
    parts = []
    left = payable
    for payment_id, room in refundable:
        if left <= 0:
            break
        take = min(left, room)
        if take > 0:
            parts.append((payment_id, take))
            left -= take
    return parts, max(0, left)


def refundable_room(
    payments: list[tuple[str, int]], taken: Mapping[str, int], refused: Set[str]
) -> list[tuple[str, int]]:
    """(payment id, what it can still give back) of ``payments`` (id, amount; newest
    first): its amount less what live payout parts ``taken`` from it, leaving out those
    ``refused`` (a refund the source refused or the bank returned: an agent's turn)."""
    found = []
    for payment_id, amount in payments:
        if payment_id in refused:
            continue
        left = amount - taken.get(payment_id, 0)
        if left > 0:
            found.append((payment_id, left))
    return found
