"""The table and repository of postage-account closures (SQLAlchemy Core).

The table was created by migration ``refunds_0001``; it belongs to the accounts area.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.accounts.closure import AccountClosure
from postroom.core.clock import utc
from postroom.core.db import metadata

Mills = sa.BigInteger

postage_account_closures = sa.Table(
    "postage_account_closures",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("ledger_accounts.id"), primary_key=True),
    sa.Column("customer_number", sa.String(10), nullable=False, unique=True),
    sa.Column("account", sa.String(120), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("refunded", Mills, nullable=False),
    sa.Column("transfer_id", sa.String(80), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ledger_seq", sa.BigInteger, nullable=False),
)


def _closure_from_row(row: Row[tuple[object, ...]]) -> AccountClosure:
    m = row._mapping
    return AccountClosure(
        customer_number=str(m["customer_number"]),
        account=str(m["account"]),
        currency=str(m["currency"]),
        refunded=int(m["refunded"]),
        transfer_id=m["transfer_id"],
        closed_at=utc(m["closed_at"]),
        ledger_seq=int(m["ledger_seq"]),
    )


class ClosureStore:
    """Repository of account closures on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def closure(self, account_id: int) -> AccountClosure | None:
        row = self._c.execute(
            sa.select(postage_account_closures).where(
                postage_account_closures.c.account_id == account_id
            )
        ).first()
        return None if row is None else _closure_from_row(row)

    def is_closed(self, account_id: int) -> bool:
        return (
            self._c.execute(
                sa.select(postage_account_closures.c.account_id).where(
                    postage_account_closures.c.account_id == account_id
                )
            ).first()
            is not None
        )

    def add_closure(self, account_id: int, closure: AccountClosure) -> None:
        self._c.execute(
            sa.insert(postage_account_closures).values(
                account_id=account_id,
                customer_number=closure.customer_number,
                account=closure.account,
                currency=closure.currency,
                refunded=closure.refunded,
                transfer_id=closure.transfer_id,
                closed_at=closure.closed_at,
                ledger_seq=closure.ledger_seq,
            )
        )

    def closed_refund(self, customer_number: str) -> int:
        """Mills the closing of the customer's postage account moved to refunds payable."""
        found = self._c.execute(
            sa.select(postage_account_closures.c.refunded).where(
                postage_account_closures.c.customer_number == customer_number
            )
        ).scalar()
        return int(found or 0)

    def closed_customers(self) -> list[str]:
        """Customer numbers whose closing left money payable, oldest closing first."""
        rows = self._c.execute(
            sa.select(postage_account_closures.c.customer_number)
            .where(postage_account_closures.c.refunded > 0)
            .order_by(postage_account_closures.c.closed_at)
        )
        return [str(r[0]) for r in rows]
