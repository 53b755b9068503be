"""verify(): the chain, the balances and the registers re-derived from the rows."""

from __future__ import annotations

import sqlalchemy as sa

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.money import Money


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


def _ledger(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("100"), "dep-1")
    pr.meters.funds.register_meter("M-1", customer.number, "USPS")
    pr.meters.funds.refill("M-1", usd("40"), "refill-1")
    pr.meters.funds.record_usage("M-1", usd("1.5"), 2, "use-1")
    pr.ledger.deposit(customer.number, usd("5"), "dep-2")


def _tamper(pr: Postroom, sql: str) -> None:
    """What an attacker with database access does: lift the immutability guard, edit."""
    with pr.db.engine.begin() as connection:
        if pr.db.dialect == "postgresql":
            connection.exec_driver_sql("ALTER TABLE ledger_transfers DISABLE TRIGGER USER")
            connection.exec_driver_sql(sql)
            connection.exec_driver_sql("ALTER TABLE ledger_transfers ENABLE TRIGGER USER")
        else:
            connection.exec_driver_sql("DROP TRIGGER ledger_transfers_no_update")
            connection.exec_driver_sql(sql)


def test_clean_ledger_verifies(pr: Postroom, customer: CustomerAccount) -> None:
    _ledger(pr, customer)
    report = pr.ledger.verify()
    assert report.ok, report.problems
    assert (report.transfers_checked, report.meters_checked) == (4, 1)


def test_changed_amount_is_named(pr: Postroom, customer: CustomerAccount) -> None:
    _ledger(pr, customer)
    _tamper(pr, "UPDATE ledger_transfers SET amount = 400000 WHERE id = 'refill-1'")
    report = pr.ledger.verify()
    assert not report.ok
    first = report.first_broken
    assert first is not None
    assert (first.code, first.seq, first.transfer_id) == ("row_altered", 2, "refill-1")


def test_changed_account_is_named(pr: Postroom, customer: CustomerAccount) -> None:
    _ledger(pr, customer)
    with pr.db.engine.connect() as connection:
        clearing = connection.execute(
            sa.text("SELECT id FROM ledger_accounts WHERE code = 'payment_clearing:USD'")
        ).scalar_one()
    _tamper(pr, f"UPDATE ledger_transfers SET debit_account_id = {clearing} WHERE id = 'use-1'")
    first = pr.ledger.verify().first_broken
    assert first is not None
    assert (first.code, first.transfer_id) == ("row_altered", "use-1")


def test_changed_balance_is_named(pr: Postroom, customer: CustomerAccount) -> None:
    _ledger(pr, customer)
    with pr.db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE code = :code"
            ),
            {"code": f"postage:{customer.number}"},
        )
    report = pr.ledger.verify()
    codes = {p.code for p in report.problems}
    assert "balance_mismatch" in codes
    assert report.problems[0].account == f"postage:{customer.number}"
