"""A hypothesis state machine drives the vault through deposits, refills, usage,
reservations, posts, voids, expiries, refunds (request, then an agent's approval), reset
tokens applied, and refills cancelled once their token expired unapplied, and checks the
invariants after every step."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PostroomError,
    ValidationError,
)
from postroom.core.ledger.model import AccountKind, Balances, sum_balances
from postroom.core.ledger.service import postage_code
from postroom.core.meters.refills import RESET_TOKEN_TTL_SECONDS, TOKEN_CANCEL_GRACE_SECONDS
from postroom.core.money import Money
from postroom.core.refunds.model import PieceClaim

amounts = st.integers(min_value=1, max_value=50_000)


@attrs.define(order=False)
class Token:
    """A refill's reset token as the model sees it."""

    text: str
    sequence: int
    mills: int
    expires_at: datetime
    applied: bool = False
    cancelled: bool = False


METERS = ("SM-1", "SM-2")


class VaultMachine(RuleBasedStateMachine):
    pendings = Bundle("pendings")
    #: None: a fresh SQLite file per run; else a PostgreSQL URL emptied per run
    postgres_url: str | None = None
    #: set by the autouse fixture below: the suite's one way to empty PostgreSQL
    empty_postgres: Callable[[str], None] | None = None
    #: set by the autouse fixture below: the suite's migrated SQLite file, copied per run
    sqlite_template: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="vault-sm-"))
        self.clock = FrozenClock.at("2026-03-02T09:30:00+00:00")
        url = self.postgres_url or f"sqlite:///{self.tmp / 'vault.db'}"
        if self.postgres_url:
            assert self.empty_postgres is not None
            self.empty_postgres(self.postgres_url)
        else:  # a copy of the migrated template: every run would migrate a new file again
            assert self.sqlite_template is not None
            shutil.copyfile(self.sqlite_template, self.tmp / "vault.db")
        config = Config.load({}, data_dir=self.tmp, database_url=url, secret_key="test")
        self.pr = Postroom.open(config=config, clock=self.clock, migrate_schema=True)
        self.counter = 0
        self.postage = 0  # expected posted balance of the postage account
        self.reserved: dict[str, int] = {}  # open reservations: id -> mills
        self.meters = dict.fromkeys(METERS, 0)
        self.refilled = dict.fromkeys(METERS, 0)
        # each meter's usage reports, in order: [pieces, mills, mills not yet refunded]
        self.usages: dict[str, list[list[int]]] = {serial: [] for serial in METERS}
        self.refunded: dict[str, set[int]] = {serial: set() for serial in METERS}
        self.fees = 0
        # each meter's refill tokens, by sequence: text, mills, expiry, state
        self.tokens: dict[str, list[Token]] = {serial: [] for serial in METERS}

    def teardown(self) -> None:
        self.pr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def next_id(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}-{self.counter}"

    @initialize(mills=st.integers(0, 200_000), part=st.integers(0, 100))
    def customer(self, mills: int, part: int) -> None:
        self.number = self.pr.accounts.create("State Machine", "US", "USD").number
        for serial in METERS:
            self.pr.meters.funds.register_meter(serial, self.number, "USPS")
        self.pr.ledger.system_account(AccountKind.POSTAGE_USED, "USD", "USPS")
        # often start funded, so that prints and refunds come within a short run
        if mills:
            self.deposit(mills)
            for serial in METERS:
                if self.available * part // 200:
                    self.refill(serial, self.available * part // 200)

    @property
    def available(self) -> int:
        return self.postage - sum(self.reserved.values())

    @rule(mills=amounts)
    def deposit(self, mills: int) -> None:
        self.pr.ledger.deposit(self.number, Money(mills, "USD"), self.next_id("dep"))
        self.postage += mills

    @rule(serial=st.sampled_from(METERS), mills=amounts)
    def refill(self, serial: str, mills: int) -> None:
        try:
            done = self.pr.meters.funds.refill(serial, Money(mills, "USD"), self.next_id("refill"))
        except InsufficientFunds:
            assert mills > self.available
            return
        assert mills <= self.available
        self.postage -= mills
        self.meters[serial] += mills
        self.refilled[serial] += mills
        expires = self.clock.now() + timedelta(seconds=RESET_TOKEN_TTL_SECONDS)
        assert done.reset.sequence == len(self.tokens[serial]) + 1
        assert done.reset.expires_at == expires
        self.tokens[serial].append(Token(done.token, done.reset.sequence, mills, expires))

    @rule(serial=st.sampled_from(METERS), pick=st.integers(0, 1000))
    def apply_token(self, serial: str, pick: int) -> None:
        """The meter's sync reports one of its tokens applied (no proof: the vault's
        clock and order rules apply)."""
        if not self.tokens[serial]:
            return
        token = self.tokens[serial][pick % len(self.tokens[serial])]
        last = max((t.sequence for t in self.tokens[serial] if t.applied), default=0)
        refused: PostroomError | None = None
        try:
            self.pr.meters.funds.apply_reset_token(serial, token.text)
        except (Conflict, ValidationError) as error:
            refused = error
        if token.cancelled:
            expected: str | None = "token_cancelled"
        elif self.clock.now() >= token.expires_at:
            expected = "token_expired"
        elif token.sequence <= last:
            expected = "token_replayed"
        else:
            expected = None
            token.applied = True
        assert (None if refused is None else refused.code) == expected

    @rule(days=st.sampled_from([1, 3, 8]))
    def days_pass_and_worker_cancels_expired_refills(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))
        self.worker_expires_reservations()
        cancelled = {(c.serial, c.sequence) for c in self.pr.meters.funds.cancel_expired_tokens()}
        due = self.clock.now() - timedelta(seconds=TOKEN_CANCEL_GRACE_SECONDS)
        # the worker goes by expiry, then serial and sequence; an uncovered one is left
        candidates = sorted(
            (token.expires_at, serial, token.sequence, token)
            for serial in METERS
            for token in self.tokens[serial]
            if not token.applied and not token.cancelled and token.expires_at <= due
        )
        expected = set()
        for _, serial, sequence, token in candidates:
            if token.mills > self.meters[serial]:
                continue
            expected.add((serial, sequence))
            token.cancelled = True
            self.meters[serial] -= token.mills
            self.refilled[serial] -= token.mills
            self.postage += token.mills
        assert cancelled == expected

    @rule(serial=st.sampled_from(METERS), mills=amounts, pieces=st.integers(1, 20))
    def usage(self, serial: str, mills: int, pieces: int) -> None:
        try:
            self.pr.meters.funds.record_usage(
                serial, Money(mills, "USD"), pieces, self.next_id("use")
            )
        except InsufficientFunds:
            assert mills > self.meters[serial]
            return
        assert mills <= self.meters[serial]
        self.meters[serial] -= mills
        self.usages[serial].append([pieces, mills, mills])

    @rule(serial=st.sampled_from(METERS), part=st.integers(1, 100))
    def refill_part_of_available(self, serial: str, part: int) -> None:
        if self.available > 0:
            self.refill(serial, max(1, self.available * part // 100))

    @rule(serial=st.sampled_from(METERS), part=st.integers(1, 100), pieces=st.integers(1, 5))
    def usage_part_of_meter(self, serial: str, part: int, pieces: int) -> None:
        if self.meters[serial] > 0:
            self.usage(serial, max(1, self.meters[serial] * part // 100), pieces)

    @rule(target=pendings, mills=amounts, timeout=st.sampled_from([None, 60, 600]))
    def reserve(self, mills: int, timeout: int | None) -> str:
        tid = self.next_id("res")
        try:
            self.pr.ledger.reserve(
                postage_code(self.number),
                "used:USPS:USD",
                Money(mills, "USD"),
                tid,
                timeout_seconds=timeout,
            )
        except InsufficientFunds:
            assert mills > self.available
            return tid
        assert mills <= self.available
        self.reserved[tid] = mills
        return tid

    @rule(pending=consumes(pendings), part=st.integers(1, 100))
    def post(self, pending: str, part: int) -> None:
        held = self.reserved.get(pending)
        mills = None if held is None else max(1, held * part // 100)
        try:
            self.pr.ledger.post_pending(
                pending, self.next_id("post"), None if mills is None else Money(mills, "USD")
            )
        except (Conflict, NotFound):  # resolved already, or a refused reservation
            assert held is None
            return
        assert held is not None
        assert mills is not None
        del self.reserved[pending]
        self.postage -= mills

    @rule(pending=consumes(pendings))
    def void(self, pending: str) -> None:
        held = self.reserved.get(pending)
        try:
            self.pr.ledger.void_pending(pending, self.next_id("void"))
        except (Conflict, NotFound):
            assert held is None
            return
        assert held is not None
        del self.reserved[pending]

    @rule(seconds=st.sampled_from([30, 61, 700]))
    def time_passes_and_worker_expires(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.worker_expires_reservations()

    def worker_expires_reservations(self) -> None:
        self.pr.ledger.expire_pending()
        # the model learns what expired from the ledger itself, then checks the sum below
        account = self.pr.ledger.balance(self.number)
        still = account.balances.debits_pending
        if still != sum(self.reserved.values()):
            open_ids = {
                t.pending_id
                for t in self.pr.ledger.history(postage_code(self.number), limit=10_000)
                if t.pending_id
            }
            for tid in list(self.reserved):
                if tid in open_ids:
                    del self.reserved[tid]
        assert account.balances.debits_pending == sum(self.reserved.values())

    def _covering(self, serial: str, piece: int) -> list[int]:
        upto = 0
        for usage in self.usages[serial]:
            upto += usage[0]
            if piece <= upto:
                return usage
        raise AssertionError(f"piece {piece} of {serial} was never printed")

    @staticmethod
    def expected_fee(face: int) -> int:
        """The default rule, written out: 10 % half up to the cent to 350.00, then 35.00."""
        fee = (face + 50) // 100 * 10 if face <= 350_000 else 35_000
        return min(fee, face)

    @rule(serial=st.sampled_from(METERS), pick=st.integers(1, 10_000), verdict=st.integers(0, 3))
    def refund(self, serial: str, pick: int, verdict: int) -> None:
        """Ask back one printed piece; an agent approves (or, one time in four, rejects)."""
        printed = sum(u[0] for u in self.usages[serial])
        if printed == 0:
            return
        piece = (pick - 1) % printed + 1
        usage = self._covering(serial, piece)
        face = usage[1] if usage[0] == 1 else max(1, usage[1] // usage[0])
        rid = self.next_id("rf")
        claim = PieceClaim(piece, face, self.clock.now().date())
        refused: PostroomError | None = None
        try:
            self.pr.refunds.request(self.number, rid, serial, [claim], "spoiled")
        except (Conflict, ValidationError) as error:
            refused = error
        if refused is not None:
            if refused.code == "piece_already_refunded":
                assert piece in self.refunded[serial]
            else:
                assert refused.code == "face_value_mismatch", refused
                assert face > usage[2]
            return
        assert piece not in self.refunded[serial]
        assert face <= usage[2]
        self.refunded[serial].add(piece)
        usage[2] -= face
        if verdict == 0:
            self.pr.refunds.reject(self.number, rid, "agent", "no envelope")
            self.refunded[serial].discard(piece)
            usage[2] += face
            return
        done = self.pr.refunds.approve(self.number, rid, "agent")
        assert done.fee == self.expected_fee(face)
        assert self.pr.refunds.approve(self.number, rid, "agent") == done  # once only
        self.postage += face - done.fee
        self.fees += done.fee

    @invariant()
    def ledger_holds(self) -> None:
        if not hasattr(self, "number"):
            return
        accounts = self.pr.ledger.accounts()
        for account in accounts:
            if account.kind in (AccountKind.POSTAGE, AccountKind.METER):
                assert account.balances.available + account.credit_limit >= 0, account
        totals: Balances = sum_balances(a.balances for a in accounts)
        assert totals.debits_posted == totals.credits_posted
        assert totals.debits_pending == totals.credits_pending
        postage = self.pr.ledger.balance(self.number).balances
        assert postage.balance == self.postage
        assert postage.debits_pending == sum(self.reserved.values())
        for serial in METERS:
            regs = self.pr.meters.funds.registers(serial)
            assert regs.ascending + regs.descending == regs.control_sum
            assert regs.descending == self.meters[serial]
            assert regs.control_sum == self.refilled[serial]
            issued = [(t.applied, t.cancelled) for t in self.pr.meters.funds.issued_tokens(serial)]
            assert issued == [(t.applied, t.cancelled) for t in self.tokens[serial]]
        if self.fees:
            assert self.pr.ledger.account("fees:USD").balances.balance == self.fees
        report = self.pr.ledger.verify()
        assert report.ok, report.problems


SETTINGS = settings(
    max_examples=int(os.environ.get("VAULT_SM_EXAMPLES", "15")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
VaultMachine.TestCase.settings = SETTINGS
test_vault_state_machine_sqlite = pytest.mark.slow(VaultMachine.TestCase)


class VaultMachinePostgres(VaultMachine):
    postgres_url = os.environ.get("POSTROOM_TEST_DATABASE_URL") or None


VaultMachinePostgres.TestCase.settings = SETTINGS
test_vault_state_machine_postgres = pytest.mark.slow(
    pytest.mark.skipif(
        VaultMachinePostgres.postgres_url is None,
        reason="PostgreSQL tests need POSTROOM_TEST_DATABASE_URL",
    )(VaultMachinePostgres.TestCase)
)


@pytest.fixture(autouse=True)
def _migrated(
    _migrated_postgres: str | None,
    _migrated_sqlite: Path,
    empty_postgres: Callable[[str], None],
) -> None:
    """Makes sure the PostgreSQL schema exists before the machine empties it, and hands
    the machine the migrated SQLite template."""
    VaultMachine.empty_postgres = staticmethod(empty_postgres)
    VaultMachine.sqlite_template = _migrated_sqlite
