"""Whether a payment request repeats an earlier one (the same idempotency key).

``FundingService.deposit`` answers a repeated key with the first payment (never a second
charge) but does not say it was a repeat, which the API needs to answer 200 rather than
201, as every other replay does. Until the funding area reports it itself (issue #12's
one idempotency helper, for the funding area), the API asks here first.
Two first requests racing with one key may then both be told 201: one payment exists
and one charge is made either way.
"""

from __future__ import annotations

from postroom.core.db import Database, UnitOfWork
from postroom.core.funding.store import FundingStore


def paid_before(db: Database, customer_id: int, customer_number: str, key: str) -> bool:
    """True when the customer already has a payment under idempotency ``key``."""

    def read(uow: UnitOfWork) -> bool:
        found = FundingStore(uow.connection).payment_by_key(customer_id, key, customer_number)
        return found is not None

    return db.run(read, readonly=True)
