"""The ledger on a real database: transfers, idempotency, two-phase, batches, bad input."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, InsufficientFunds, NotFound, ValidationError
from postroom.core.ledger.model import AccountKind, Phase, TransferCode, TransferRequest
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money

USD = "USD"


def usd(text: str) -> Money:
    return Money.parse(f"{text} USD")


def balance(pr: Postroom, customer: CustomerAccount) -> int:
    return pr.ledger.balance(customer.number).balances.balance


def transfer_count(pr: Postroom) -> int:
    return pr.ledger.verify().transfers_checked


def test_deposit_credits_the_postage_account(pr: Postroom, customer: CustomerAccount) -> None:
    t = pr.ledger.deposit(customer.number, usd("100.00"), "dep-1")
    assert t.amount == 100_000
    assert t.code is TransferCode.DEPOSIT
    assert balance(pr, customer) == 100_000
    clearing = pr.ledger.account("payment_clearing:USD")
    assert clearing.balances.debits_posted == 100_000
    assert pr.ledger.verify().ok


def test_same_id_same_body_returns_the_first_result(
    pr: Postroom, customer: CustomerAccount
) -> None:
    first = pr.ledger.deposit(customer.number, usd("10"), "dep-1")
    again = pr.ledger.deposit(customer.number, usd("10"), "dep-1")
    assert again == first
    assert balance(pr, customer) == 10_000
    assert transfer_count(pr) == 1


def test_same_id_other_body_is_a_conflict(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("10"), "dep-1")
    with pytest.raises(Conflict) as error:
        pr.ledger.deposit(customer.number, usd("11"), "dep-1")
    assert error.value.code == "transfer_id_reused"
    assert balance(pr, customer) == 10_000


def test_insufficient_funds_id_stays_failed(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("5"), "dep-1")
    spend = TransferRequest(
        id="spend-1",
        debit=postage_code(customer.number),
        credit="fees:USD",
        amount=6_000,
        currency=USD,
        code=TransferCode.FEE,
    )
    pr.ledger.system_account(AccountKind.FEES, USD)
    with pytest.raises(InsufficientFunds) as error:
        pr.ledger.transfer(spend)
    assert error.value.code == "insufficient_funds"
    pr.ledger.deposit(customer.number, usd("5"), "dep-2")  # now there would be enough
    with pytest.raises(InsufficientFunds):
        pr.ledger.transfer(spend)  # but the id stays failed
    with pytest.raises(Conflict) as reused:
        pr.ledger.transfer(attrs.evolve(spend, amount=1_000))
    assert reused.value.code == "transfer_id_reused"
    assert balance(pr, customer) == 10_000
    pr.ledger.transfer(attrs.evolve(spend, id="spend-2"))
    assert balance(pr, customer) == 4_000
    assert pr.ledger.verify().ok


def test_credit_line_lets_the_balance_go_below_zero(
    pr: Postroom, customer: CustomerAccount
) -> None:
    pr.ledger.open_postage_account(customer.number, credit_limit=usd("50"))
    pr.meters.funds.register_meter("M-1", customer.number, "USPS")
    pr.meters.funds.refill("M-1", usd("50"), "r1")
    assert balance(pr, customer) == -50_000
    with pytest.raises(InsufficientFunds):
        pr.meters.funds.refill("M-1", usd("0.001"), "r2")
    assert pr.ledger.verify().ok


def test_two_phase_partial_post_releases_the_rest(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("20"), "dep")
    pr.ledger.system_account(AccountKind.POSTAGE_USED, USD, "USPS")
    pending = pr.ledger.reserve(postage_code(customer.number), "used:USPS:USD", usd("8"), "p1")
    assert pending.phase is Phase.PENDING
    account = pr.ledger.balance(customer.number)
    assert account.balances.available == 12_000
    assert account.balances.balance == 20_000
    posted = pr.ledger.post_pending("p1", "p1-post", usd("5"))
    assert posted.amount == 5_000
    account = pr.ledger.balance(customer.number)
    assert account.balances.balance == 15_000
    assert account.balances.debits_pending == 0
    with pytest.raises(Conflict) as twice:
        pr.ledger.void_pending("p1", "p1-void")
    assert twice.value.code == "pending_transfer_resolved"
    assert pr.ledger.post_pending("p1", "p1-post", usd("5")) == posted  # idempotent
    assert pr.ledger.verify().ok


def test_void_releases_the_reservation(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("20"), "dep")
    pr.ledger.system_account(AccountKind.POSTAGE_USED, USD, "USPS")
    pr.ledger.reserve(postage_code(customer.number), "used:USPS:USD", usd("20"), "p1")
    with pytest.raises(InsufficientFunds):
        pr.ledger.reserve(postage_code(customer.number), "used:USPS:USD", usd("1"), "p2")
    pr.ledger.void_pending("p1", "v1")
    assert pr.ledger.balance(customer.number).balances.available == 20_000
    assert pr.ledger.verify().ok


def test_expiry_by_the_worker_job(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock
) -> None:
    pr.ledger.deposit(customer.number, usd("20"), "dep")
    pr.ledger.system_account(AccountKind.POSTAGE_USED, USD, "USPS")
    code = postage_code(customer.number)
    pr.ledger.reserve(code, "used:USPS:USD", usd("3"), "p1", timeout_seconds=60)
    pr.ledger.reserve(code, "used:USPS:USD", usd("4"), "p2")  # no timeout: never expires
    assert pr.jobs.run_now("vault.expire-pending") == 0
    clock.advance(timedelta(seconds=61))
    with pytest.raises(Conflict) as late:
        pr.ledger.post_pending("p1", "p1-post")
    assert late.value.code == "pending_transfer_expired"
    assert pr.jobs.run_now("vault.expire-pending") == 1
    assert pr.jobs.run_now("vault.expire-pending") == 0  # idempotent
    account = pr.ledger.balance(customer.number)
    assert account.balances.debits_pending == 4_000
    assert pr.ledger.verify().ok


def test_linked_batch_is_all_or_nothing(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("10"), "dep")
    pr.ledger.system_account(AccountKind.FEES, USD)
    code = postage_code(customer.number)

    def fee(tid: str, mills: int) -> TransferRequest:
        return TransferRequest(
            id=tid, debit=code, credit="fees:USD", amount=mills, currency=USD, code=TransferCode.FEE
        )

    with pytest.raises(InsufficientFunds):
        pr.ledger.create_transfers([fee("a", 6_000), fee("b", 6_000)])
    assert balance(pr, customer) == 10_000
    done = pr.ledger.create_transfers([fee("c", 6_000), fee("d", 4_000)])
    assert [t.batch for t in done] == ["c", "c"]
    assert balance(pr, customer) == 0
    assert pr.ledger.verify().ok


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 0}, "invalid_amount"),
        ({"amount": -5}, "invalid_amount"),
        ({"amount": 1.5}, "invalid_amount"),
        ({"amount": "100"}, "invalid_amount"),
        ({"currency": "EUR"}, "currency_mismatch"),
        ({"currency": "XYZ"}, "currency_mismatch"),
        ({"credit": "no-such-account"}, "account_not_found"),
        ({"credit": 9999}, "account_not_found"),
        ({"id": ""}, "invalid_transfer_id"),
        ({"id": "x" * 65}, "invalid_transfer_id"),
    ],
)
def test_bad_input_writes_nothing(
    pr: Postroom, customer: CustomerAccount, change: dict[str, object], code: str
) -> None:
    pr.ledger.deposit(customer.number, usd("10"), "dep")
    pr.ledger.system_account(AccountKind.FEES, USD)
    base = {
        "id": "bad",
        "debit": postage_code(customer.number),
        "credit": "fees:USD",
        "amount": 1_000,
        "currency": USD,
    }
    request = TransferRequest(**{**base, **change})  # type: ignore[arg-type]
    with pytest.raises((ValidationError, NotFound)) as error:
        pr.ledger.transfer(request)
    assert error.value.code == code
    assert transfer_count(pr) == 1
    assert balance(pr, customer) == 10_000


def test_money_refuses_floats_and_mixed_currencies(pr: Postroom, customer: CustomerAccount) -> None:
    with pytest.raises(ValidationError):
        pr.ledger.deposit(customer.number, Money.of(1.5, USD), "x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as mixed:
        pr.ledger.deposit(customer.number, Money.parse("5 EUR"), "x")
    assert mixed.value.code == "currency_mismatch"
    with pytest.raises(NotFound):
        pr.ledger.deposit("1234567897", usd("5"), "x")
    assert transfer_count(pr) == 0


def test_rows_are_immutable_in_the_database(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, usd("10"), "dep")
    with pytest.raises(Exception, match="immutable"), pr.db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE ledger_transfers SET amount = 1")
    with pytest.raises(Exception, match="immutable"), pr.db.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM ledger_transfers")
    assert pr.ledger.verify().ok


def test_a_batch_stores_its_times_as_every_other_row(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock
) -> None:
    # Batch rows are inserted through the driver: their times must be stored exactly as
    # SQLAlchemy stores any other, or SQL comparisons (expiry, date-range reports) and
    # reading them back would go wrong.
    clock.advance(timedelta(seconds=1, microseconds=123456))
    pr.ledger.deposit(customer.number, usd("20"), "dep")
    used = pr.ledger.system_account(AccountKind.POSTAGE_USED, USD, "USPS")  # made now
    code = postage_code(customer.number)
    rows = pr.ledger.create_transfers(
        [
            TransferRequest(
                id="hold", debit=code, credit=used.id, amount=3_000, currency=USD,
                phase=Phase.PENDING, timeout_seconds=60,
            ),
            TransferRequest(id="use", debit=code, credit=used.id, amount=1_000, currency=USD),
        ]
    )  # fmt: skip
    assert [t.created_at for t in rows] == [clock.now(), clock.now()]
    with pr.db.engine.connect() as c:
        stored = c.exec_driver_sql(
            "SELECT created_at, timeout_at FROM ledger_transfers WHERE id = 'hold'"
        ).one()
        account_made = c.exec_driver_sql(
            "SELECT created_at FROM ledger_accounts WHERE id = ?"
            if pr.db.dialect == "sqlite"
            else "SELECT created_at FROM ledger_accounts WHERE id = %s",
            (used.id,),
        ).scalar_one()
    assert stored.created_at == account_made
    assert pr.ledger.history(code)[0].created_at == clock.now()
    clock.advance(timedelta(seconds=60))
    assert pr.jobs.run_now("vault.expire-pending") == 1
    assert pr.ledger.verify().ok
