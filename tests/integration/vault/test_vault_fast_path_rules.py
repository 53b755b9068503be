"""The one-statement posted transfer (store.py's checks in SQL, ``post_at_once``) keeps
exactly the model's balance rules: on generated ledger states and batches of transfers,
it applies a transfer when and only when the model's rules allow it, and leaves the
balances the model computes. The balance rules live once, in the model; this property
is what lets the SQL copy of them stay.

The one place the two may differ by design: a transfer touching a meter, which the
SQL path always leaves to the general path (it moves the meter's registers too).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import PostroomError
from postroom.core.ledger.model import (
    MAX_AMOUNT,
    AccountKind,
    Balances,
    ChainKey,
    LedgerAccount,
    Phase,
    Transfer,
    TransferCode,
    posted_between,
)
from postroom.core.ledger.store import LedgerStore, ledger_accounts, post_at_once

KEY = ChainKey.from_text("the fast path property's ledger key, 32+ characters")
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
RUN = itertools.count(1)


def sometimes(rare: st.SearchStrategy[object], usual: st.SearchStrategy[object], one_in: int):
    """``rare`` about once in ``one_in`` draws, else ``usual``."""
    return st.sampled_from([False] * (one_in - 1) + [True]).flatmap(
        lambda is_rare: rare if is_rare else usual
    )


registers = sometimes(
    st.integers(-3, -1),  # a register already broken: the rules must refuse to go on
    st.one_of(st.integers(0, 30_000), st.sampled_from([0, 1]), st.integers(10**12, 10**15)),
    40,
)


@attrs.frozen
class AccountState:
    kind: AccountKind
    foreign: bool  # in EUR where the others are in USD
    credit_limit: int
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    balances: Balances


account_states = st.builds(
    AccountState,
    kind=sometimes(
        st.just(AccountKind.METER),
        st.sampled_from([AccountKind.POSTAGE, AccountKind.FEES, AccountKind.PAYMENT_CLEARING]),
        6,
    ),
    foreign=sometimes(st.just(True), st.just(False), 8),
    credit_limit=st.sampled_from([0, 0, 1, 5_000]),
    debits_must_not_exceed_credits=st.booleans(),
    credits_must_not_exceed_debits=sometimes(st.just(True), st.just(False), 5),
    balances=st.builds(Balances, registers, registers, registers, registers),
)


@attrs.frozen
class Move:
    """One posted transfer of the batch: account indexes, and its amount (fixed, or
    at the debit account's edge: what it has available, plus ``edge``)."""

    debit: int
    credit: int  # the debit account's index plus this: 0 is the same account
    amount: int
    at_edge: bool
    edge: int
    other_currency: bool
    by_code: bool


moves = st.builds(
    Move,
    debit=st.integers(0, 3),
    credit=sometimes(st.just(0), st.integers(1, 3), 10),
    amount=sometimes(st.integers(1, 10**15), st.integers(1, 40_000), 5),
    at_edge=st.booleans(),
    edge=st.sampled_from([-1, 0, 1, 250]),
    other_currency=sometimes(st.just(True), st.just(False), 10),
    by_code=st.booleans(),
)


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    database = Database(store_url)
    database.run(_start_chain)
    yield database
    database.dispose()


def _start_chain(uow: UnitOfWork) -> None:
    store = LedgerStore(uow.connection)
    store.lock_chain()
    uow.commit()


def _open(db: Database, states: list[AccountState]) -> list[LedgerAccount]:
    """The accounts, opened with these rules and balances (written as they stand)."""
    run = next(RUN)

    def work(uow: UnitOfWork) -> list[LedgerAccount]:
        store = LedgerStore(uow.connection)
        opened = []
        for n, s in enumerate(states):
            account = store.add_account(
                f"prop:{run}:{n}",
                s.kind,
                "EUR" if s.foreign else "USD",
                None,
                s.credit_limit,
                s.debits_must_not_exceed_credits,
                s.credits_must_not_exceed_debits,
                NOW,
            )
            b = s.balances
            uow.connection.execute(
                sa.update(ledger_accounts)
                .where(ledger_accounts.c.id == account.id)
                .values(
                    debits_pending=b.debits_pending,
                    debits_posted=b.debits_posted,
                    credits_pending=b.credits_pending,
                    credits_posted=b.credits_posted,
                )
            )
            opened.append(attrs.evolve(account, balances=b))
        uow.commit()
        return opened

    return db.run(work)


def _stored(db: Database, accounts: list[LedgerAccount]) -> list[Balances]:
    def read(uow: UnitOfWork) -> list[Balances]:
        found = LedgerStore(uow.connection).lock_accounts(a.id for a in accounts)
        return [found[a.id].balances for a in accounts]

    return db.run(read, readonly=True)


def _row(
    id: str, debit: LedgerAccount, credit: LedgerAccount, amount: int, currency: str
) -> Transfer:
    return Transfer(
        seq=0,
        id=id,
        debit_account_id=debit.id,
        credit_account_id=credit.id,
        amount=amount,
        currency=currency,
        phase=Phase.POSTED,
        code=TransferCode.FEE,
        pending_id=None,
        timeout_at=None,
        batch=None,
        pieces=0,
        reference="",
        cost_center=None,
        body_hash="0" * 64,
        created_at=NOW,
        prev_hash="",
        row_hash="",
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    states=st.lists(account_states, min_size=2, max_size=4),
    batch=st.lists(moves, min_size=1, max_size=6),
)
def test_the_sql_fast_path_decides_and_moves_as_the_models_rules(
    db: Database, states: list[AccountState], batch: list[Move]
) -> None:
    accounts = _open(db, states)
    first: tuple[str, LedgerAccount, LedgerAccount, str] | None = None
    for n, move in enumerate(batch):
        debit = accounts[move.debit % len(accounts)]
        offset = 0 if move.credit == 0 else 1 + (move.credit - 1) % (len(accounts) - 1)
        credit = accounts[(move.debit + offset) % len(accounts)]
        amount = move.amount
        if move.at_edge:
            edge = debit.balances.available + debit.credit_limit + move.edge
            amount = min(max(1, edge), MAX_AMOUNT)  # the service checks the amount first
        currency = (
            ("EUR" if debit.currency == "USD" else "USD") if move.other_currency else debit.currency
        )
        transfer_id = f"{debit.code}-t{n}"
        try:
            after = posted_between(debit, credit, amount, currency, transfer_id)
        except PostroomError as refused:
            allowed, why = None, refused.code
        else:
            allowed, why = after, None
        by_code = (debit.code, credit.code) if move.by_code else (None, None)

        done = post_at_once(db, _row(transfer_id, debit, credit, amount, currency), *by_code, KEY)

        meter = AccountKind.METER in (debit.kind, credit.kind)
        event(f"{'applied' if done else 'declined'}: model says {why or 'allowed'}")
        if done is None:
            # declined: the model refuses too, or a meter leaves it to the general path
            assert allowed is None or meter, (debit, credit, amount, currency)
        else:
            assert allowed is not None, (why, debit, credit, amount, currency)
            assert not meter
            assert done.row_hash == done.computed_hash(KEY)
            first = first or (transfer_id, debit, credit, currency)
            debit_after, credit_after = allowed
            accounts = [
                attrs.evolve(a, balances=debit_after)
                if a.id == debit.id
                else attrs.evolve(a, balances=credit_after)
                if a.id == credit.id
                else a
                for a in accounts
            ]
        assert _stored(db, accounts) == [a.balances for a in accounts]
    # An id already applied is never applied again, whatever the rules say.
    if first is not None:
        id, debit, credit, currency = first
        before = _stored(db, accounts)
        assert post_at_once(db, _row(id, debit, credit, 1, currency), None, None, KEY) is None
        assert _stored(db, accounts) == before
