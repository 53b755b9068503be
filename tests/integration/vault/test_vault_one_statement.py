"""The posted-debit path as PostgreSQL runs it (one statement, one round trip) and the
twin requests it must answer exactly as the general path does."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TypeVar

import attrs
import pytest
import sqlalchemy as sa

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.errors import InsufficientFunds, PostroomError
from postroom.core.ledger.model import (
    AccountKind,
    ChainKey,
    Transfer,
    TransferCode,
    TransferRequest,
)
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money


def ledger_key(pr: Postroom) -> ChainKey:
    return ChainKey.from_text(pr.config.resolved_ledger_key())


T = TypeVar("T", bound=Hashable)


def fee(customer: CustomerAccount, id: str, mills: int = 1000) -> TransferRequest:
    return TransferRequest(
        id=id,
        debit=postage_code(customer.number),
        credit="fees:USD",
        amount=mills,
        currency="USD",
        code=TransferCode.FEE,
    )


def sent_at_once(
    threads: int, requests: Sequence[T], send: Callable[[T], object]
) -> dict[T, list[object]]:
    """Each request sent by ``threads`` threads at the same moment, one request after
    another: what each thread was answered, by request."""
    answers: dict[T, list[object]] = defaultdict(list)
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def client() -> None:
        for request in requests:
            barrier.wait(timeout=30)
            answer = send(request)
            with lock:
                answers[request].append(answer)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return answers


def test_a_posted_debit_runs_on_the_driver_alone(pr: Postroom, customer: CustomerAccount) -> None:
    pr.ledger.deposit(customer.number, Money(10_000, "USD"), "funding")
    pr.ledger.system_account(AccountKind.FEES, "USD")
    pr.ledger.transfer(fee(customer, "first"))  # learns the account codes
    through_sqlalchemy: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        through_sqlalchemy.append(statement)

    sa.event.listen(pr.db.engine, "before_cursor_execute", count)
    try:
        done = pr.ledger.transfer(fee(customer, "second"))
        again = pr.ledger.transfer(fee(customer, "second"))  # a replay: the general path
    finally:
        sa.event.remove(pr.db.engine, "before_cursor_execute", count)
    assert again == done
    # The debit itself ran on the driver (PostgreSQL: one statement, one round trip);
    # only the replay's general path went through SQLAlchemy (lock, then the two reads,
    # after SQLite's BEGIN IMMEDIATE).
    assert len(through_sqlalchemy) == (3 if pr.db.dialect == "postgresql" else 4), (
        through_sqlalchemy
    )
    assert done.row_hash == done.computed_hash(ledger_key(pr))
    assert pr.ledger.balance(customer.number).balances.balance == 8_000
    assert pr.ledger.verify().ok


@pytest.mark.postgres
def test_a_failed_transfer_id_never_becomes_a_transfer_in_the_database(
    pr: Postroom, customer: CustomerAccount
) -> None:
    if pr.db.dialect != "postgresql":
        pytest.skip("the trigger is PostgreSQL's; SQLite's single writer cannot race")
    pr.ledger.deposit(customer.number, Money(500, "USD"), "funding")
    pr.ledger.system_account(AccountKind.FEES, "USD")
    with pytest.raises(InsufficientFunds):
        pr.ledger.transfer(fee(customer, "too-much"))
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
    pr.ledger.deposit(customer.number, Money(500, "USD"), "funding")
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
    assert pr.ledger.verify().ok


def test_twin_requests_sent_at_once_get_one_answer(pr: Postroom, customer: CustomerAccount) -> None:
    # 30 ids, each sent by 4 threads at the same moment; funds for 20 of them.
    pr.ledger.deposit(customer.number, Money(20 * 1000, "USD"), "funding")
    pr.ledger.system_account(AccountKind.FEES, "USD")
    pr.ledger.transfer(fee(customer, "warm-up", 1))
    pr.ledger.deposit(customer.number, Money(1, "USD"), "top-up")
    threads, ids = 4, [f"twin-{n}" for n in range(30)]

    def send(transfer_id: str) -> object:
        try:
            return pr.ledger.transfer(fee(customer, transfer_id))
        except InsufficientFunds as error:
            return error.code

    answers = sent_at_once(threads, ids, send)
    applied = [i for i in ids if isinstance(answers[i][0], Transfer)]
    for transfer_id in ids:
        assert len(answers[transfer_id]) == threads
        assert len({repr(a) for a in answers[transfer_id]}) == 1, answers[transfer_id]
    assert len(applied) == 20
    assert pr.ledger.balance(customer.number).balances.balance == 0
    report = pr.ledger.verify()
    assert report.ok, report.problems
    assert report.transfers_checked == 3 + 20
    # A refused id stays refused, even with the funds there now.
    pr.ledger.deposit(customer.number, Money(10**6, "USD"), "later")
    refused = next(i for i in ids if i not in applied)
    with pytest.raises(InsufficientFunds, match="failed before"):
        pr.ledger.transfer(fee(customer, refused))


def test_twin_batches_sent_at_once_get_one_answer(pr: Postroom, customer: CustomerAccount) -> None:
    # 12 linked batches of 3, each sent by 4 threads at the same moment; funds for 8.
    # The losers of a race find the winner's rows (or its refusal) and answer with them.
    pr.ledger.deposit(customer.number, Money(8 * 3 * 1000, "USD"), "funding")
    pr.ledger.system_account(AccountKind.FEES, "USD")
    threads, batches = 4, [tuple(f"batch-{b}-{n}" for n in range(3)) for b in range(12)]

    def send(ids: tuple[str, ...]) -> object:
        try:
            return pr.ledger.create_transfers([fee(customer, i) for i in ids])
        except InsufficientFunds as error:
            return (error.code, error.details["transfer_id"])

    answers = sent_at_once(threads, batches, send)
    for ids in batches:
        assert len(answers[ids]) == threads
        assert len({repr(a) for a in answers[ids]}) == 1, answers[ids]
    applied = [b for b, ids in enumerate(batches) if isinstance(answers[ids][0], list)]
    assert applied == list(range(8))
    assert pr.ledger.balance(customer.number).balances.balance == 0
    report = pr.ledger.verify()
    assert report.ok, report.problems
    assert report.transfers_checked == 1 + 8 * 3


def test_a_posted_transfer_answers_alike_with_or_without_its_sql_checks(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same 500 seeded requests against two ledgers: one where a posted transfer runs
    # with its checks in SQL, one where every transfer takes the general path. Each
    # answer, each row and each balance must be the same.
    def opened(name: str) -> Postroom:
        config = Config.load(
            {}, data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / name}", secret_key="k"
        )
        return Postroom.open(config=config, clock=clock, migrate_schema=True)

    fast, general = opened("fast.db"), opened("general.db")
    decided_in_sql: list[bool] = []  # applied, or left to the general path
    post_at_once = fast.ledger._post_at_once

    def recorded(request: TransferRequest) -> Transfer | None:
        done = post_at_once(request)
        decided_in_sql.append(done is not None)
        return done

    monkeypatch.setattr(fast.ledger, "_post_at_once", recorded)
    monkeypatch.setattr(general.ledger, "_post_at_once", lambda request: None)
    ledgers = (fast, general)
    accounts: list[int | str] = []
    meter = 0
    customers: list[list[str]] = []
    for pr in ledgers:
        usd = pr.accounts.create("Plain", "US", "USD")
        lined = pr.accounts.create("On credit", "US", "USD")
        eur = pr.accounts.create("Euro", "FR", "EUR")
        pr.ledger.open_postage_account(usd.number)
        pr.ledger.open_postage_account(lined.number, credit_limit=Money(5_000, "USD"))
        pr.ledger.open_postage_account(eur.number)
        customers.append([usd.number, lined.number])
        pr.meters.funds.register_meter("PM-1", usd.number, "USPS")
        in_dollars: list[int | str] = [
            pr.ledger.balance(usd.number).id,
            pr.ledger.balance(lined.number).id,
            pr.ledger.system_account(AccountKind.FEES, "USD").id,
            "fees:USD",
        ]
        meter = pr.ledger.account("meter:PM-1").id
        accounts = [
            *in_dollars,
            meter,
            pr.ledger.balance(eur.number).id,
            pr.ledger.system_account(AccountKind.FEES, "EUR").id,
        ]
    rng = random.Random(20261123)
    sent: list[TransferRequest] = []
    for n in range(500):
        if n % 40 == 0:  # funds come and go
            for pr, numbers in zip(ledgers, customers, strict=True):
                for k, number in enumerate(numbers):
                    pr.ledger.deposit(number, Money(25_000, "USD"), f"funding-{n}-{k}")
                pr.meters.funds.refill("PM-1", Money(5_000, "USD"), f"refill-{n}")
        if sent and rng.random() < 0.15:  # a replay, as sent or with another amount
            request = rng.choice(sent)
            if rng.random() < 0.5:
                request = attrs.evolve(request, amount=request.amount + 1)
        else:
            # mostly between USD accounts; else anything, mismatched currencies included
            choices = in_dollars if rng.random() < 0.8 else accounts
            request = TransferRequest(
                id=f"t{n}",
                debit=rng.choice(choices),
                credit=rng.choice(choices),
                amount=rng.choice([1, 5_000, 20_000, rng.randint(1, 9_000)]),
                currency="USD" if choices is in_dollars else rng.choice(["USD", "EUR"]),
                code=TransferCode.FEE,
            )
            if rng.random() < 0.1:  # a meter on one side, which only the general path moves
                request = attrs.evolve(request, **{rng.choice(["debit", "credit"]): meter})
            if isinstance(request.debit, int) and rng.random() < 0.3:  # at the edge
                debit = next(a for a in fast.ledger.accounts() if a.id == request.debit)
                edge = debit.balances.available + debit.credit_limit + rng.choice([-1, 0, 1, 300])
                request = attrs.evolve(request, amount=max(1, edge))
            sent.append(request)
        answers: list[object] = []
        for pr in ledgers:
            try:
                # The chains differ in the deposits' rows (customer numbers are random).
                done = pr.ledger.transfer(request)
                answers.append(attrs.evolve(done, prev_hash="", row_hash=""))
                assert done.row_hash == done.computed_hash(ledger_key(pr))
            except PostroomError as error:
                answers.append((type(error).__name__, error.code))
        assert answers[0] == answers[1], (request, answers)
    assert decided_in_sql.count(True) > 150
    assert decided_in_sql.count(False) > 100
    assert [a.balances for a in fast.ledger.accounts()] == [
        a.balances for a in general.ledger.accounts()
    ]
    assert fast.meters.funds.registers("PM-1") == general.meters.funds.registers("PM-1")
    for pr in ledgers:
        assert pr.ledger.verify().ok
        pr.close()
