"""Tables and repository of funding: payment instruments, payments (with the debt a
failed or returned debit left), auto-refill rules and credit-line statements.

Money itself never lives here: every amount that moves is a ledger transfer; these
rows say why, and what a payment source answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.clock import utc
from postroom.core.db import metadata
from postroom.core.funding.model import (
    AutoRefillRule,
    Instrument,
    ManualDeposit,
    Payment,
    Statement,
)
from postroom.core.money import Money
from postroom.core.ports import PaymentStatus

Mills = sa.BigInteger

payment_instruments = sa.Table(
    "payment_instruments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "customer_account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False
    ),
    sa.Column("source", sa.String(60), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # JSON of what the source stored
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_payment_instruments_customer", "customer_account_id"),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "customer_account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False
    ),
    sa.Column(
        "instrument_id", sa.String(40), sa.ForeignKey("payment_instruments.id"), nullable=False
    ),
    sa.Column("source", sa.String(60), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("amount", Mills, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("idempotency_key", sa.String(80), nullable=False),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("source_reference", sa.String(120), nullable=False),
    sa.Column("transfer_id", sa.String(80), nullable=True),
    sa.Column("failure_code", sa.String(60), nullable=True),
    sa.Column("failure_message", sa.String(300), nullable=False),
    sa.Column("return_reason", sa.String(10), nullable=True),
    sa.Column("outstanding", Mills, nullable=False),
    # mills given back to the customer by payouts (refunded when it reaches the amount)
    sa.Column("refunded", Mills, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("customer_account_id", "idempotency_key", name="uq_payments_key"),
    sa.Index("ix_payments_customer_outstanding", "customer_account_id", "outstanding"),
)

auto_refill_rules = sa.Table(
    "auto_refill_rules",
    metadata,
    sa.Column(
        "customer_account_id",
        sa.Integer,
        sa.ForeignKey("customer_accounts.id"),
        primary_key=True,
    ),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("threshold", Mills, nullable=False),
    sa.Column("amount", Mills, nullable=True),
    sa.Column("daily_cap", Mills, nullable=True),
    sa.Column(
        "instrument_id", sa.String(40), sa.ForeignKey("payment_instruments.id"), nullable=True
    ),
    sa.Column("alerted", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # declined auto-refills in a row, when to try again, and whether it gave up
    sa.Column("declines", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("suspended", sa.Boolean, nullable=False, server_default=sa.false()),
)

credit_statements = sa.Table(
    "credit_statements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "customer_account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False
    ),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("opening", Mills, nullable=False),
    sa.Column("draws", Mills, nullable=False),
    sa.Column("payments", Mills, nullable=False),
    sa.Column("closing", Mills, nullable=False),
    sa.Column("minimum_due", Mills, nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("credit_limit", Mills, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("customer_account_id", "month", name="uq_credit_statements_month"),
)


# The audit of funds a staff member credited by hand: one row per ledger transfer, written
# in that transfer's transaction, never updated (docs/security.md).
manual_deposits = sa.Table(
    "manual_deposits",
    metadata,
    sa.Column("transfer_id", sa.String(80), primary_key=True),
    sa.Column(
        "customer_account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False
    ),
    sa.Column("customer_number", sa.String(20), nullable=False),
    sa.Column("amount", Mills, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("staff", sa.String(100), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("reference", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_manual_deposits_customer", "customer_account_id", "created_at"),
    sa.Index("ix_manual_deposits_created", "created_at"),
)


def _manual_deposit(row: Row[tuple[object, ...]]) -> ManualDeposit:
    m = row._mapping
    return ManualDeposit(
        transfer_id=str(m["transfer_id"]),
        customer_number=str(m["customer_number"]),
        amount=Money(int(m["amount"]), str(m["currency"])),
        staff=str(m["staff"]),
        reason=str(m["reason"]),
        reference=str(m["reference"]),
        created_at=utc(m["created_at"]),
    )


def _instrument(row: Row[tuple[object, ...]], number: str) -> Instrument:
    m = row._mapping
    return Instrument(
        id=str(m["id"]),
        customer_number=number,
        source=str(m["source"]),
        label=str(m["label"]),
        details=dict(json.loads(str(m["details"]))),
        status=str(m["status"]),
        created_at=utc(m["created_at"]),
    )


def _payment(row: Row[tuple[object, ...]], number: str) -> Payment:
    m = row._mapping
    return Payment(
        id=str(m["id"]),
        customer_number=number,
        instrument_id=str(m["instrument_id"]),
        source=str(m["source"]),
        kind=str(m["kind"]),
        amount=Money(int(m["amount"]), str(m["currency"])),
        idempotency_key=str(m["idempotency_key"]),
        status=PaymentStatus(m["status"]),
        source_reference=str(m["source_reference"]),
        transfer_id=m["transfer_id"],
        failure_code=m["failure_code"],
        failure_message=str(m["failure_message"]),
        return_reason=m["return_reason"],
        outstanding=int(m["outstanding"]),
        created_at=utc(m["created_at"]),
        updated_at=utc(m["updated_at"]),
        refunded=int(m["refunded"]),
    )


# Read on every dashboard: built once (their cache keys too).
_EVERY_INSTRUMENT = (
    sa.select(payment_instruments)
    .where(payment_instruments.c.customer_account_id == sa.bindparam("customer_id"))
    .order_by(payment_instruments.c.created_at, payment_instruments.c.id)
)
_ACTIVE_INSTRUMENTS = _EVERY_INSTRUMENT.where(payment_instruments.c.status == "active")
_RULE = sa.select(auto_refill_rules).where(
    auto_refill_rules.c.customer_account_id == sa.bindparam("customer_id")
)


class FundingRepository(Protocol):
    """Funding's rows as the use cases read and write them (``FundingStore`` on the
    database; an in-memory fake in the unit tests). ``customer_id`` is the customer
    account's id; ``number`` its number, which the rows do not repeat."""

    # manual deposits
    def add_manual_deposit(self, customer_id: int, deposit: ManualDeposit) -> None: ...
    def manual_deposit(self, transfer_id: str) -> ManualDeposit | None: ...
    def manual_deposits(
        self, customer_id: int | None, *, limit: int, offset: int
    ) -> list[ManualDeposit]: ...

    # instruments
    def add_instrument(
        self,
        id: str,
        customer_id: int,
        source: str,
        label: str,
        details: dict[str, str],
        now: datetime,
    ) -> None: ...
    def instrument(self, id: str, customer_id: int, number: str) -> Instrument | None: ...
    def instrument_owner(self, id: str) -> int | None: ...
    def instruments(
        self, customer_id: int, number: str, *, include_removed: bool = False
    ) -> list[Instrument]: ...
    def remove_instrument(self, id: str, now: datetime) -> None: ...
    def instrument_details(self, payment_id: str) -> str: ...

    # payments
    def add_payment(
        self,
        id: str,
        customer_id: int,
        instrument: Instrument,
        kind: str,
        amount: Money,
        key: str,
        body_hash: str,
        now: datetime,
    ) -> None: ...
    def payment_by_key(
        self, customer_id: int, key: str, number: str
    ) -> tuple[Payment, str] | None: ...
    def payment(self, id: str, customer_id: int | None, number: str) -> Payment | None: ...
    def payment_owner(self, id: str) -> int | None: ...
    def payments(
        self, customer_id: int, number: str, *, limit: int, offset: int
    ) -> list[Payment]: ...
    def update_payment(self, id: str, now: datetime, **values: object) -> None: ...
    def submitted_before(self, before: datetime, limit: int) -> list[tuple[str, str, datetime]]: ...
    def debts(self, customer_id: int, number: str) -> list[Payment]: ...
    def refills_locked(self, customer_id: int) -> bool: ...
    def auto_refilled(self, customer_id: int, since: datetime, until: datetime) -> int: ...
    def pending_payments(self, customer_id: int, number: str) -> list[Payment]: ...
    def declined_auto_refills(self, customer_id: int) -> int: ...
    def settled_payments(
        self, customer_id: int, kinds: tuple[str, ...], sources: list[str]
    ) -> list[tuple[str, int]]: ...
    def add_refunded(self, payment_id: str, mills: int, now: datetime) -> None: ...

    # auto-refill rules
    def rule(self, customer_id: int, number: str) -> AutoRefillRule | None: ...
    def has_rule(self, customer_id: int) -> bool: ...
    def save_rule(self, customer_id: int, rule: AutoRefillRule, now: datetime) -> None: ...
    def delete_rule(self, customer_id: int) -> bool: ...
    def set_alerted(self, customer_id: int, alerted: bool, now: datetime) -> bool: ...
    def record_decline(
        self, customer_id: int, declines_before: int, after: AutoRefillRule, now: datetime
    ) -> bool: ...
    def clear_declines(self, customer_id: int, now: datetime) -> bool: ...
    def rule_customers(self) -> list[int]: ...

    # credit-line statements
    def statement(self, customer_id: int, month: str, number: str) -> Statement | None: ...
    def add_statement(self, customer_id: int, statement: Statement) -> None: ...


class FundingStore:
    """``FundingRepository`` on the database, in one transaction's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def refills_locked(self, customer_id: int) -> bool:
        """Whether a failed or returned debit of this customer is still unpaid."""
        found = self._c.execute(
            sa.select(payments.c.id)
            .where(payments.c.customer_account_id == customer_id, payments.c.outstanding > 0)
            .limit(1)
        ).first()
        return found is not None

    def has_rule(self, customer_id: int) -> bool:
        """Whether the customer has an auto-refill rule."""
        found = self._c.execute(
            sa.select(auto_refill_rules.c.customer_account_id)
            .where(auto_refill_rules.c.customer_account_id == customer_id)
            .limit(1)
        ).first()
        return found is not None

    # manual deposits ------------------------------------------------------

    def add_manual_deposit(self, customer_id: int, deposit: ManualDeposit) -> None:
        self._c.execute(
            sa.insert(manual_deposits).values(
                transfer_id=deposit.transfer_id,
                customer_account_id=customer_id,
                customer_number=deposit.customer_number,
                amount=deposit.amount.mills,
                currency=deposit.amount.currency,
                staff=deposit.staff,
                reason=deposit.reason,
                reference=deposit.reference,
                created_at=deposit.created_at,
            )
        )

    def manual_deposit(self, transfer_id: str) -> ManualDeposit | None:
        row = self._c.execute(
            sa.select(manual_deposits).where(manual_deposits.c.transfer_id == transfer_id)
        ).first()
        return None if row is None else _manual_deposit(row)

    def manual_deposits(
        self, customer_id: int | None, *, limit: int, offset: int
    ) -> list[ManualDeposit]:
        query = sa.select(manual_deposits)
        if customer_id is not None:
            query = query.where(manual_deposits.c.customer_account_id == customer_id)
        query = query.order_by(
            manual_deposits.c.created_at.desc(), manual_deposits.c.transfer_id.desc()
        )
        rows = self._c.execute(query.limit(limit).offset(offset))
        return [_manual_deposit(row) for row in rows]

    # instruments ----------------------------------------------------------

    def add_instrument(
        self,
        id: str,
        customer_id: int,
        source: str,
        label: str,
        details: dict[str, str],
        now: datetime,
    ) -> None:
        self._c.execute(
            sa.insert(payment_instruments).values(
                id=id,
                customer_account_id=customer_id,
                source=source,
                label=label[:200],
                details=json.dumps(details, sort_keys=True),
                status="active",
                created_at=now,
            )
        )

    def instrument(self, id: str, customer_id: int, number: str) -> Instrument | None:
        row = self._c.execute(
            sa.select(payment_instruments).where(
                payment_instruments.c.id == id,
                payment_instruments.c.customer_account_id == customer_id,
            )
        ).first()
        return None if row is None else _instrument(row, number)

    def instrument_owner(self, id: str) -> int | None:
        found = self._c.execute(
            sa.select(payment_instruments.c.customer_account_id).where(
                payment_instruments.c.id == id
            )
        ).scalar()
        return None if found is None else int(found)

    def instruments(
        self, customer_id: int, number: str, *, include_removed: bool = False
    ) -> list[Instrument]:
        query = _EVERY_INSTRUMENT if include_removed else _ACTIVE_INSTRUMENTS
        rows = self._c.execute(query, {"customer_id": customer_id})
        return [_instrument(row, number) for row in rows]

    def remove_instrument(self, id: str, now: datetime) -> None:
        self._c.execute(
            sa.update(payment_instruments)
            .where(payment_instruments.c.id == id)
            .values(status="removed", removed_at=now)
        )

    def credit_line_customers(self, sources: Iterable[str]) -> list[int]:
        """Customers holding an active instrument of one of ``sources``."""
        wanted = sorted(set(sources))
        if not wanted:
            return []
        rows = self._c.execute(
            sa.select(payment_instruments.c.customer_account_id)
            .where(
                payment_instruments.c.source.in_(wanted),
                payment_instruments.c.status == "active",
            )
            .distinct()
            .order_by(payment_instruments.c.customer_account_id)
        )
        return [int(r[0]) for r in rows]

    # payments -------------------------------------------------------------

    def add_payment(
        self,
        id: str,
        customer_id: int,
        instrument: Instrument,
        kind: str,
        amount: Money,
        key: str,
        body_hash: str,
        now: datetime,
    ) -> None:
        self._c.execute(
            sa.insert(payments).values(
                id=id,
                customer_account_id=customer_id,
                instrument_id=instrument.id,
                source=instrument.source,
                kind=kind,
                amount=amount.mills,
                currency=amount.currency,
                idempotency_key=key,
                body_hash=body_hash,
                status=PaymentStatus.PENDING.value,
                source_reference="",
                failure_message="",
                outstanding=0,
                refunded=0,
                created_at=now,
                updated_at=now,
            )
        )

    def payment_by_key(self, customer_id: int, key: str, number: str) -> tuple[Payment, str] | None:
        row = self._c.execute(
            sa.select(payments).where(
                payments.c.customer_account_id == customer_id,
                payments.c.idempotency_key == key,
            )
        ).first()
        return None if row is None else (_payment(row, number), str(row._mapping["body_hash"]))

    def payment(self, id: str, customer_id: int | None, number: str) -> Payment | None:
        query = sa.select(payments).where(payments.c.id == id)
        if customer_id is not None:
            query = query.where(payments.c.customer_account_id == customer_id)
        row = self._c.execute(query).first()
        return None if row is None else _payment(row, number)

    def payment_owner(self, id: str) -> int | None:
        found = self._c.execute(
            sa.select(payments.c.customer_account_id).where(payments.c.id == id)
        ).scalar()
        return None if found is None else int(found)

    def payments(self, customer_id: int, number: str, *, limit: int, offset: int) -> list[Payment]:
        rows = self._c.execute(
            sa.select(payments)
            .where(payments.c.customer_account_id == customer_id)
            .order_by(payments.c.created_at.desc(), payments.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [_payment(row, number) for row in rows]

    def update_payment(self, id: str, now: datetime, **values: object) -> None:
        self._c.execute(
            sa.update(payments).where(payments.c.id == id).values(updated_at=now, **values)
        )

    def submitted_before(self, before: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        """(id, source, created_at) of pending payments a source accepted before ``before``."""
        rows = self._c.execute(
            sa.select(payments.c.id, payments.c.source, payments.c.created_at)
            .where(
                payments.c.status == PaymentStatus.PENDING.value,
                payments.c.source_reference != "",
                payments.c.created_at < before,
            )
            .order_by(payments.c.created_at, payments.c.id)
            .limit(limit)
        )
        return [(str(r.id), str(r.source), utc(r.created_at)) for r in rows]

    def debts(self, customer_id: int, number: str) -> list[Payment]:
        """Failed or returned payments not yet made good, oldest first."""
        rows = self._c.execute(
            sa.select(payments)
            .where(payments.c.customer_account_id == customer_id, payments.c.outstanding > 0)
            .order_by(payments.c.updated_at, payments.c.id)
        )
        return [_payment(row, number) for row in rows]

    def auto_refilled(self, customer_id: int, since: datetime, until: datetime) -> int:
        """Mills auto-refilled in [since, until), failed attempts left out."""
        total = self._c.execute(
            sa.select(sa.func.coalesce(sa.func.sum(payments.c.amount), 0)).where(
                payments.c.customer_account_id == customer_id,
                payments.c.kind == "auto_refill",
                payments.c.status != PaymentStatus.FAILED.value,
                payments.c.created_at >= since,
                payments.c.created_at < until,
            )
        ).scalar()
        return int(total or 0)

    def pending_payments(self, customer_id: int, number: str) -> list[Payment]:
        """The customer's payments a source accepted and that have not settled yet,
        oldest first (bank debits on their way)."""
        rows = self._c.execute(
            sa.select(payments)
            .where(
                payments.c.customer_account_id == customer_id,
                payments.c.status == PaymentStatus.PENDING.value,
                payments.c.source_reference != "",
            )
            .order_by(payments.c.created_at, payments.c.id)
        )
        return [_payment(row, number) for row in rows]

    def declined_auto_refills(self, customer_id: int) -> int:
        """How many auto-refills of the customer were ever declined (only grows)."""
        total = self._c.execute(
            sa.select(sa.func.count()).where(
                payments.c.customer_account_id == customer_id,
                payments.c.kind == "auto_refill",
                payments.c.status == PaymentStatus.FAILED.value,
            )
        ).scalar()
        return int(total or 0)

    # auto-refill rules ----------------------------------------------------

    def rule(self, customer_id: int, number: str) -> AutoRefillRule | None:
        row = self._c.execute(_RULE, {"customer_id": customer_id}).first()
        if row is None:
            return None
        m = row._mapping
        cur = str(m["currency"])

        def money(value: object) -> Money | None:
            return None if value is None else Money(int(str(value)), cur)

        return AutoRefillRule(
            customer_number=number,
            threshold=Money(int(m["threshold"]), cur),
            amount=money(m["amount"]),
            daily_cap=money(m["daily_cap"]),
            instrument_id=m["instrument_id"],
            alerted=bool(m["alerted"]),
            declines=int(m["declines"]),
            retry_at=None if m["retry_at"] is None else utc(m["retry_at"]),
            suspended=bool(m["suspended"]),
        )

    def save_rule(self, customer_id: int, rule: AutoRefillRule, now: datetime) -> None:
        values = {
            "currency": rule.threshold.currency,
            "threshold": rule.threshold.mills,
            "amount": None if rule.amount is None else rule.amount.mills,
            "daily_cap": None if rule.daily_cap is None else rule.daily_cap.mills,
            "instrument_id": rule.instrument_id,
            "alerted": rule.alerted,
            "declines": rule.declines,
            "retry_at": rule.retry_at,
            "suspended": rule.suspended,
            "updated_at": now,
        }
        done = self._c.execute(
            sa.update(auto_refill_rules)
            .where(auto_refill_rules.c.customer_account_id == customer_id)
            .values(**values)
        )
        if done.rowcount == 0:
            self._c.execute(
                sa.insert(auto_refill_rules).values(customer_account_id=customer_id, **values)
            )

    def delete_rule(self, customer_id: int) -> bool:
        done = self._c.execute(
            sa.delete(auto_refill_rules).where(
                auto_refill_rules.c.customer_account_id == customer_id
            )
        )
        return done.rowcount > 0

    def set_alerted(self, customer_id: int, alerted: bool, now: datetime) -> bool:
        """Flip the alert flag; False when it already had that value (someone else won)."""
        done = self._c.execute(
            sa.update(auto_refill_rules)
            .where(
                auto_refill_rules.c.customer_account_id == customer_id,
                auto_refill_rules.c.alerted == (not alerted),
            )
            .values(alerted=alerted, updated_at=now)
        )
        return done.rowcount == 1

    def record_decline(
        self, customer_id: int, declines_before: int, after: AutoRefillRule, now: datetime
    ) -> bool:
        """Count one declined auto-refill; False when a concurrent check counted it."""
        done = self._c.execute(
            sa.update(auto_refill_rules)
            .where(
                auto_refill_rules.c.customer_account_id == customer_id,
                auto_refill_rules.c.declines == declines_before,
            )
            .values(
                declines=after.declines,
                retry_at=after.retry_at,
                suspended=after.suspended,
                updated_at=now,
            )
        )
        return done.rowcount == 1

    def clear_declines(self, customer_id: int, now: datetime) -> bool:
        """Resume auto-refill at once (a refill went through, or the customer acted);
        False when nothing was declined."""
        done = self._c.execute(
            sa.update(auto_refill_rules)
            .where(
                auto_refill_rules.c.customer_account_id == customer_id,
                sa.or_(auto_refill_rules.c.declines > 0, auto_refill_rules.c.suspended),
            )
            .values(declines=0, retry_at=None, suspended=False, updated_at=now)
        )
        return done.rowcount > 0

    def rule_customers(self) -> list[int]:
        rows = self._c.execute(
            sa.select(auto_refill_rules.c.customer_account_id).order_by(
                auto_refill_rules.c.customer_account_id
            )
        )
        return [int(r[0]) for r in rows]

    # statements -----------------------------------------------------------

    def statement(self, customer_id: int, month: str, number: str) -> Statement | None:
        row = self._c.execute(
            sa.select(credit_statements).where(
                credit_statements.c.customer_account_id == customer_id,
                credit_statements.c.month == month,
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        due = m["due_date"]
        return Statement(
            customer_number=number,
            month=str(m["month"]),
            currency=str(m["currency"]),
            opening=int(m["opening"]),
            draws=int(m["draws"]),
            payments=int(m["payments"]),
            closing=int(m["closing"]),
            minimum_due=int(m["minimum_due"]),
            due_date=due if isinstance(due, date) else date.fromisoformat(str(due)),
            credit_limit=int(m["credit_limit"]),
            created_at=utc(m["created_at"]),
        )

    def add_statement(self, customer_id: int, statement: Statement) -> None:
        self._c.execute(
            sa.insert(credit_statements).values(
                customer_account_id=customer_id,
                month=statement.month,
                currency=statement.currency,
                opening=statement.opening,
                draws=statement.draws,
                payments=statement.payments,
                closing=statement.closing,
                minimum_due=statement.minimum_due,
                due_date=statement.due_date,
                credit_limit=statement.credit_limit,
                created_at=statement.created_at,
            )
        )

    def settled_payments(
        self, customer_id: int, kinds: tuple[str, ...], sources: list[str]
    ) -> list[tuple[str, int]]:
        """(payment id, amount) of the customer's settled, fully paid payments of
        ``kinds`` from ``sources``, newest first."""
        rows = self._c.execute(
            sa.select(payments.c.id, payments.c.amount)
            .where(
                payments.c.customer_account_id == customer_id,
                payments.c.kind.in_(kinds),
                payments.c.source.in_(sources),
                payments.c.status == PaymentStatus.SETTLED.value,
                payments.c.outstanding == 0,
            )
            .order_by(payments.c.created_at.desc(), payments.c.id.desc())
        )
        return [(str(r.id), int(r.amount)) for r in rows]

    def instrument_details(self, payment_id: str) -> str:
        """The stored instrument (JSON) a payment was collected from."""
        return str(
            self._c.execute(
                sa.select(payment_instruments.c.details)
                .join(payments, payments.c.instrument_id == payment_instruments.c.id)
                .where(payments.c.id == payment_id)
            ).scalar_one()
        )

    def add_refunded(self, payment_id: str, mills: int, now: datetime) -> None:
        """Count ``mills`` more (less, for a returned refund) as given back by the
        payment; fully given back, its status becomes ``refunded``, and ``settled`` again
        when a return leaves it less."""
        refunded = payments.c.refunded + mills
        self._c.execute(
            sa.update(payments)
            .where(payments.c.id == payment_id)
            .values(
                refunded=refunded,
                status=sa.case(
                    (refunded >= payments.c.amount, PaymentStatus.REFUNDED.value),
                    (
                        payments.c.status == PaymentStatus.REFUNDED.value,
                        PaymentStatus.SETTLED.value,
                    ),
                    else_=payments.c.status,
                ),
                updated_at=now,
            )
        )
