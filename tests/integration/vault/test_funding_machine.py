"""A state machine over deposits (card and bank), settlements, returns and refills:
after every step the postage balance, the debt and the refill lock are what a simple
model says, never below zero, and the ledger verifies."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.errors import InsufficientFunds, Locked
from postroom.core.money import Money

CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}
ACH = {"routing_number": "111000025", "account_number": "12345678", "account_type": "checking",
       "account_holder": "Acme"}  # fmt: skip
amounts = st.integers(min_value=1, max_value=200).map(lambda units: units * 1000)


class FundingMachine(RuleBasedStateMachine):
    #: set by the test: the suite's migrated SQLite file, copied per run (migrating a new
    #: file for each of the runs would cost more than the runs)
    sqlite_template: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        data = Path(self.folder.name)
        assert self.sqlite_template is not None
        shutil.copyfile(self.sqlite_template, data / "m.db")
        config = Config.load(
            {}, data_dir=data, database_url=f"sqlite:///{data / 'm.db'}", secret_key="s"
        )
        self.pr = Postroom.open(
            config=config,
            clock=FrozenClock.at("2026-03-02T09:30:00+00:00"),
            migrate_schema=True,
            immediate_jobs=True,
        )
        self.number = self.pr.accounts.create("Acme", "US", "USD").number
        self.card = self.pr.funding.add_instrument(self.number, "sandbox-card", CARD).id
        self.bank = self.pr.funding.add_instrument(self.number, "ach-debit", ACH).id
        self.pr.meters.funds.register_meter("PB-M", self.number, "USPS")
        self.balance = 0
        self.debt = 0
        self.open: list[tuple[str, int]] = []  # bank payments that may still be returned
        self.pending: dict[str, int] = {}  # on its way: not spendable until settled
        self.n = 0

    def teardown(self) -> None:
        self.pr.close()
        self.folder.cleanup()

    def key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def recover(self) -> None:
        take = min(self.debt, self.balance)
        self.debt -= take
        self.balance -= take

    @rule(mills=amounts)
    def pay_by_card(self, mills: int) -> None:
        self.pr.funding.deposit(self.number, self.card, Money(mills, "USD"), self.key())
        self.balance += mills
        self.recover()

    @rule(mills=amounts)
    def debit_the_bank(self, mills: int) -> None:
        p = self.pr.funding.deposit(self.number, self.bank, Money(mills, "USD"), self.key())
        self.open.append((p.id, mills))
        self.pending[p.id] = mills

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        # in the order they were made: payment ids are random, so sorting them would let
        # one drawn index mean another payment when hypothesis replays a case
        payment_id = data.draw(st.sampled_from(list(self.pending)))
        self.pr.funding.settle(payment_id)
        self.balance += self.pending.pop(payment_id)
        self.recover()

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def bank_returns(self, data: st.DataObject) -> None:
        payment_id, mills = data.draw(st.sampled_from(self.open))
        self.pr.funding.record_return(payment_id, "R01")
        self.open.remove((payment_id, mills))
        if self.pending.pop(payment_id, None) is not None:
            return  # voided before it settled: nothing was spendable, nothing is owed
        take = min(mills, self.balance)
        self.balance -= take
        self.debt += mills - take

    @rule(mills=amounts)
    def refill(self, mills: int) -> None:
        try:
            self.pr.meters.funds.refill("PB-M", Money(mills, "USD"), self.key())
        except Locked:
            assert self.debt > 0
            return
        except InsufficientFunds:
            assert self.debt == 0
            assert mills > self.balance
            return
        assert self.debt == 0
        self.balance -= mills

    @precondition(lambda self: self.balance > 0 and self.debt == 0)
    @rule()
    def refill_everything(self) -> None:
        """Put every funded dollar in the meter: a later return cannot take it back."""
        self.pr.meters.funds.refill("PB-M", Money(self.balance, "USD"), self.key())
        self.balance = 0

    @invariant()
    def matches_the_model(self) -> None:
        balances = self.pr.ledger.balance(self.number).balances
        assert balances.balance == self.balance >= 0
        assert balances.credits_pending == sum(self.pending.values())
        assert self.pr.funding.debt(self.number).mills == self.debt
        assert self.pr.funding.refills_locked(self.number) == (self.debt > 0)

    @invariant()
    def ledger_verifies(self) -> None:
        assert self.pr.ledger.verify().ok


@pytest.fixture
def sqlite_template(_migrated_sqlite: Path) -> Path:
    """The suite's migrated SQLite file."""
    return _migrated_sqlite


@pytest.mark.slow
def test_funding_state_machine(sqlite_template: Path) -> None:
    FundingMachine.sqlite_template = sqlite_template
    FundingMachine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    FundingMachine.TestCase().runTest()
