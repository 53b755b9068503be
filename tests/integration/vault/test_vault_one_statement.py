"""The posted-debit path as PostgreSQL runs it (one statement, one round trip) and the
twin requests it must answer exactly as the general path does."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest
import sqlalchemy as sa

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.errors import InsufficientFunds
from postroom.core.money import Money
from postroom.core.vault.model import AccountKind, Transfer, TransferCode, TransferRequest
from postroom.core.vault.service import postage_code


def fee(customer: CustomerAccount, id: str, mills: int = 1000) -> TransferRequest:
    return TransferRequest(
        id=id,
        debit=postage_code(customer.number),
        credit="fees:USD",
        amount=mills,
        currency="USD",
        code=TransferCode.FEE,
    )


def test_a_posted_debit_is_one_statement_of_its_own_on_postgresql(
    pr: Postroom, customer: CustomerAccount
) -> None:
    if pr.db.dialect != "postgresql":
        pytest.skip("the one-statement debit is PostgreSQL's")
    pr.vault.deposit(customer.number, Money(10_000, "USD"), "funding")
    pr.vault.system_account(AccountKind.FEES, "USD")
    pr.vault.transfer(fee(customer, "first"))  # learns the account codes
    through_sqlalchemy: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        through_sqlalchemy.append(statement)

    sa.event.listen(pr.db.engine, "before_cursor_execute", count)
    try:
        done = pr.vault.transfer(fee(customer, "second"))
        again = pr.vault.transfer(fee(customer, "second"))  # a replay: the general path
    finally:
        sa.event.remove(pr.db.engine, "before_cursor_execute", count)
    assert again == done
    # The debit itself ran as Database.execute_alone (one driver statement, one round trip);
    # only the replay's general path went through SQLAlchemy (lock, then the two reads).
    assert len(through_sqlalchemy) == 3, through_sqlalchemy
    assert done.row_hash == done.computed_hash()
    assert pr.vault.balance(customer.number).balances.balance == 8_000
    assert pr.vault.verify().ok


@pytest.mark.postgres
def test_a_failed_transfer_id_never_becomes_a_transfer_in_the_database(
    pr: Postroom, customer: CustomerAccount
) -> None:
    if pr.db.dialect != "postgresql":
        pytest.skip("the trigger is PostgreSQL's; SQLite's single writer cannot race")
    pr.vault.deposit(customer.number, Money(500, "USD"), "funding")
    pr.vault.system_account(AccountKind.FEES, "USD")
    with pytest.raises(InsufficientFunds):
        pr.vault.transfer(fee(customer, "too-much"))
    copy = (
        "INSERT INTO ledger_transfers SELECT seq + 1, 'too-much', debit_account_id,"
        " credit_account_id, amount, currency, phase, code, pending_id, timeout_at, batch,"
        " pieces, reference, body_hash, created_at, prev_hash, row_hash, cost_center"
        " FROM ledger_transfers ORDER BY seq DESC LIMIT 1"
    )
    with (
        pytest.raises(sa.exc.IntegrityError, match="stays failed"),
        pr.db.engine.begin() as connection,
    ):
        connection.exec_driver_sql(copy)


def test_a_ledger_row_names_only_accounts_that_exist(
    pr: Postroom, customer: CustomerAccount
) -> None:
    # Both stores refuse a row naming an unknown account: SQLite by its foreign keys,
    # PostgreSQL by the statement-level check that replaced them (vault_0008).
    pr.vault.deposit(customer.number, Money(500, "USD"), "funding")
    orphan = (
        "INSERT INTO ledger_transfers SELECT seq + 1, 'orphan', 999999,"
        " credit_account_id, amount, currency, phase, code, pending_id, timeout_at, batch,"
        " pieces, reference, body_hash, created_at, prev_hash, row_hash, cost_center"
        " FROM ledger_transfers ORDER BY seq DESC LIMIT 1"
    )
    with pytest.raises(sa.exc.IntegrityError), pr.db.engine.begin() as connection:
        connection.exec_driver_sql(orphan)
    if pr.db.dialect == "postgresql":
        # ...and no account a row names can go away or change its id afterwards.
        for change in ("DELETE FROM ledger_accounts", "UPDATE ledger_accounts SET id = id + 1000"):
            with pytest.raises(sa.exc.IntegrityError), pr.db.engine.begin() as connection:
                connection.exec_driver_sql(change)
    assert pr.vault.verify().ok


def test_twin_requests_sent_at_once_get_one_answer(pr: Postroom, customer: CustomerAccount) -> None:
    # 30 ids, each sent by 4 threads at the same moment; funds for 20 of them.
    pr.vault.deposit(customer.number, Money(20 * 1000, "USD"), "funding")
    pr.vault.system_account(AccountKind.FEES, "USD")
    pr.vault.transfer(fee(customer, "warm-up", 1))
    pr.vault.deposit(customer.number, Money(1, "USD"), "top-up")
    threads, ids = 4, [f"twin-{n}" for n in range(30)]
    answers: dict[str, list[object]] = defaultdict(list)
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def client() -> None:
        for transfer_id in ids:
            barrier.wait(timeout=30)
            try:
                answer: object = pr.vault.transfer(fee(customer, transfer_id))
            except InsufficientFunds as error:
                answer = error.code
            with lock:
                answers[transfer_id].append(answer)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    applied = [i for i in ids if isinstance(answers[i][0], Transfer)]
    for transfer_id in ids:
        assert len(answers[transfer_id]) == threads
        assert len({repr(a) for a in answers[transfer_id]}) == 1, answers[transfer_id]
    assert len(applied) == 20
    assert pr.vault.balance(customer.number).balances.balance == 0
    report = pr.vault.verify()
    assert report.ok, report.problems
    assert report.transfers_checked == 3 + 20
    # A refused id stays refused, even with the funds there now.
    pr.vault.deposit(customer.number, Money(10**6, "USD"), "later")
    refused = next(i for i in ids if i not in applied)
    with pytest.raises(InsufficientFunds, match="failed before"):
        pr.vault.transfer(fee(customer, refused))


def test_twin_batches_sent_at_once_get_one_answer(pr: Postroom, customer: CustomerAccount) -> None:
    # 12 linked batches of 3, each sent by 4 threads at the same moment; funds for 8.
    # The losers of a race find the winner's rows (or its refusal) and answer with them.
    pr.vault.deposit(customer.number, Money(8 * 3 * 1000, "USD"), "funding")
    pr.vault.system_account(AccountKind.FEES, "USD")
    threads, batches = 4, [[f"batch-{b}-{n}" for n in range(3)] for b in range(12)]
    answers: dict[int, list[object]] = defaultdict(list)
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def client() -> None:
        for b, ids in enumerate(batches):
            barrier.wait(timeout=30)
            try:
                answer: object = pr.vault.create_transfers([fee(customer, i) for i in ids])
            except InsufficientFunds as error:
                answer = (error.code, error.details["transfer_id"])
            with lock:
                answers[b].append(answer)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    for b in range(len(batches)):
        assert len(answers[b]) == threads
        assert len({repr(a) for a in answers[b]}) == 1, answers[b]
    applied = [b for b in range(len(batches)) if isinstance(answers[b][0], list)]
    assert applied == list(range(8))
    assert pr.vault.balance(customer.number).balances.balance == 0
    report = pr.vault.verify()
    assert report.ok, report.problems
    assert report.transfers_checked == 1 + 8 * 3
