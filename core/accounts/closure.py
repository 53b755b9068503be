"""A closed postage account: the record that freezes it. Values only, no I/O.

The refunds area closes an account (what was left goes to refunds payable); the ledger
refuses any later row on it, funding refuses new deposits, payouts pay what it owed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from postroom.core.clock import iso_utc
from postroom.core.money import Money


@attrs.frozen
class AccountClosure:
    """A closed postage account: what was left in it went to refunds payable."""

    customer_number: str
    account: str
    currency: str
    refunded: int  # mills moved to the refunds-payable account
    transfer_id: str | None  # None when nothing was left
    closed_at: datetime
    ledger_seq: int  # the last ledger row at the closing: later rows may not touch it

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_number": self.customer_number,
            "account": self.account,
            "currency": self.currency,
            "refunded_mills": self.refunded,
            "transfer_id": self.transfer_id,
            "closed_at": iso_utc(self.closed_at),
        }


def closure_json(closure: AccountClosure) -> dict[str, Any]:
    data = closure.to_json()
    data["refunded"] = Money(data.pop("refunded_mills"), closure.currency).to_json()
    return data
