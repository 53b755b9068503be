"""A closed postage account: the record that freezes it. Values only, no I/O.

The refunds area closes an account (what was left goes to refunds payable); the ledger
refuses any later row on it, funding refuses new deposits, payouts pay what it owed.
"""

from __future__ import annotations

from datetime import datetime

import attrs


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
