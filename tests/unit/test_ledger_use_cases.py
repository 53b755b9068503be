"""The ledger's use cases on in-memory fakes (tests/unit/fakes_ledger.py): posting, linked
batches, two-phase transfers, replays and conflicts, overdraft and the line of credit,
currencies, another customer's objects. No I/O: the fakes refuse a database connection.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from fakes_ledger import LedgerWorld

from postroom.core.accounts.closure import AccountClosure
from postroom.core.accounts.model import CustomerAccount
from postroom.core.errors import Conflict, InsufficientFunds, NotFound, ValidationError
from postroom.core.ledger.model import (
    AccountKind,
    Balances,
    Phase,
    TransferCode,
    TransferRequest,
    customer_transfer_id,
)
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money


@pytest.fixture
def world() -> LedgerWorld:
    return LedgerWorld.create()


@pytest.fixture
def acme(world: LedgerWorld) -> CustomerAccount:
    customer = world.customers.add("Acme Mailroom")
    world.ledger.open_postage_account(customer.number)
    world.ledger.system_account(AccountKind.FEES, "USD")
    return customer


def usd(mills: int) -> Money:
    return Money(mills, "USD")


def fee(customer: CustomerAccount, id: str, mills: int) -> TransferRequest:
    return TransferRequest(
        id=id,
        debit=postage_code(customer.number),
        credit="fees:USD",
        amount=mills,
        currency="USD",
        code=TransferCode.FEE,
    )


def balances(world: LedgerWorld, code: str) -> Balances:
    return world.ledger.account(code).balances


# ---------------------------------------------------------------- posting


def test_a_deposit_then_a_fee_move_the_postage_balance_and_verify(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    done = world.ledger.transfer(fee(acme, "fee-1", 2_500))

    assert (done.seq, done.phase, done.replayed) == (2, Phase.POSTED, False)
    assert world.ledger.balance(acme.number).balances.balance == 7_500
    assert balances(world, "fees:USD") == Balances(credits_posted=2_500)
    assert [t.id for t in world.ledger.history(postage_code(acme.number))] == ["fee-1", "dep-1"]
    assert world.ledger.verify().ok


def test_a_deposit_opens_the_postage_account_on_first_use(world: LedgerWorld) -> None:
    newcomer = world.customers.add("Newcomer")
    world.ledger.deposit(newcomer.number, usd(1_000), "dep-1")
    assert world.ledger.balance(newcomer.number).balances.balance == 1_000


def test_an_unknown_account_is_refused_and_nothing_is_written(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    request = attrs.evolve(fee(acme, "fee-1", 10), credit="fees:EUR")
    with pytest.raises(NotFound) as refused:
        world.ledger.transfer(request)
    assert refused.value.code == "account_not_found"
    assert (world.repo.transfers, world.repo.failures) == ([], {})


def test_an_empty_or_oversized_batch_is_refused(world: LedgerWorld, acme: CustomerAccount) -> None:
    with pytest.raises(ValidationError) as empty:
        world.ledger.create_transfers([])
    assert empty.value.code == "empty_batch"
    with pytest.raises(ValidationError) as same:
        world.ledger.create_transfers([fee(acme, "a", 1), fee(acme, "a", 1)])
    assert same.value.code == "duplicate_id"


# ---------------------------------------------------------- linked batches


def test_a_linked_batch_applies_whole_or_not_at_all(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(5_000), "dep-1")
    batch = [fee(acme, "b-1", 2_000), fee(acme, "b-2", 2_000), fee(acme, "b-3", 2_000)]

    with pytest.raises(InsufficientFunds) as refused:
        world.ledger.create_transfers(batch)

    assert refused.value.details["transfer_id"] == "b-3"
    assert world.ledger.balance(acme.number).balances.balance == 5_000
    assert [t.id for t in world.repo.transfers] == ["dep-1"]
    assert set(world.repo.failures) == {"b-3"}  # the failure sticks, nothing else does

    done = world.ledger.create_transfers(batch[:2])
    assert [t.batch for t in done] == ["b-1", "b-1"]
    assert world.ledger.balance(acme.number).balances.balance == 1_000


def test_a_rule_broken_mid_batch_leaves_no_trace(world: LedgerWorld, acme: CustomerAccount) -> None:
    world.ledger.deposit(acme.number, usd(5_000), "dep-1")
    other = world.customers.add("Euro Shop", "EUR")
    world.ledger.open_postage_account(other.number)
    batch = [
        fee(acme, "b-1", 1_000),
        attrs.evolve(fee(acme, "b-2", 1_000), credit=postage_code(other.number)),
    ]

    with pytest.raises(ValidationError) as refused:
        world.ledger.create_transfers(batch)

    assert refused.value.code == "currency_mismatch"
    assert world.repo.failures == {}
    assert len(world.repo.transfers) == 1


# ---------------------------------------------------------- two-phase


def test_a_reservation_holds_funds_until_posted_for_less(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    held = world.ledger.reserve_postage(acme.number, usd(3_000), "hold-1", reference="kiosk 4")

    postage = world.ledger.balance(acme.number)
    assert (postage.balances.balance, postage.balances.available) == (10_000, 7_000)
    posted = world.ledger.post_postage(acme.number, held.id, "post-1", usd(2_400))

    assert (posted.amount, posted.reference) == (2_400, "kiosk 4")
    after = world.ledger.balance(acme.number).balances
    assert (after.balance, after.available, after.debits_pending) == (7_600, 7_600, 0)
    assert balances(world, "used:USPS:USD").credits_posted == 2_400
    with pytest.raises(Conflict) as twice:
        world.ledger.void_postage(acme.number, held.id, "void-1")
    assert twice.value.code == "pending_transfer_resolved"
    assert world.ledger.verify().ok


def test_a_reservation_posted_for_more_than_it_holds_is_refused(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    held = world.ledger.reserve_postage(acme.number, usd(3_000), "hold-1")
    with pytest.raises(ValidationError) as refused:
        world.ledger.post_pending(held.id, "post-1", usd(3_001))
    assert refused.value.code == "exceeds_pending_amount"


def test_a_void_releases_the_hold(world: LedgerWorld, acme: CustomerAccount) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    held = world.ledger.reserve_postage(acme.number, usd(3_000), "hold-1")
    world.ledger.void_postage(acme.number, held.id, "void-1")
    assert world.ledger.balance(acme.number).balances == Balances(credits_posted=10_000)


def test_a_timed_out_reservation_expires_once_and_can_no_longer_be_posted(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    held = world.ledger.reserve_postage(acme.number, usd(3_000), "hold-1", timeout_seconds=60)
    assert world.ledger.expire_pending() == 0  # not yet

    world.clock.advance(timedelta(seconds=60))
    with pytest.raises(Conflict) as late:
        world.ledger.post_postage(acme.number, held.id, "post-1")
    assert late.value.code == "pending_transfer_expired"
    assert world.ledger.expire_pending() == 1
    assert world.ledger.expire_pending() == 0  # idempotent: the expiry is a row now

    assert world.ledger.balance(acme.number).balances.available == 10_000
    assert world.repo.transfers[-1].phase is Phase.EXPIRE
    assert world.ledger.verify().ok


def test_an_unknown_reservation_is_not_found(world: LedgerWorld, acme: CustomerAccount) -> None:
    with pytest.raises(NotFound) as refused:
        world.ledger.post_pending("nothing-held", "post-1")
    assert refused.value.code == "pending_transfer_not_found"


# ------------------------------------------------------ replays and reuse


def test_a_replay_answers_the_first_result_without_a_second_row(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    first = world.ledger.transfer(fee(acme, "fee-1", 500))
    again = world.ledger.transfer(fee(acme, "fee-1", 500))

    assert again == first
    assert (first.replayed, again.replayed) == (False, True)
    assert len(world.repo.transfers) == 2
    assert world.ledger.balance(acme.number).balances.balance == 9_500


def test_an_id_reused_with_another_body_is_a_conflict(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    world.ledger.transfer(fee(acme, "fee-1", 500))
    with pytest.raises(Conflict) as refused:
        world.ledger.transfer(fee(acme, "fee-1", 501))
    assert refused.value.code == "transfer_id_reused"
    assert world.ledger.balance(acme.number).balances.balance == 9_500


def test_a_failed_id_stays_failed_even_once_funds_arrive(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    with pytest.raises(InsufficientFunds):
        world.ledger.transfer(fee(acme, "fee-1", 500))
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")

    with pytest.raises(InsufficientFunds) as again:
        world.ledger.transfer(fee(acme, "fee-1", 500))
    assert "failed before" in again.value.message
    with pytest.raises(Conflict) as other:
        world.ledger.transfer(fee(acme, "fee-1", 400))
    assert other.value.code == "transfer_id_reused"
    assert world.ledger.balance(acme.number).balances.balance == 10_000


# ------------------------------------------------- overdraft and credit line


def test_an_overdraft_is_refused_with_what_is_available(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(1_000), "dep-1")
    world.ledger.reserve_postage(acme.number, usd(300), "hold-1")
    with pytest.raises(InsufficientFunds) as refused:
        world.ledger.transfer(fee(acme, "fee-1", 701))
    assert refused.value.details["available_mills"] == 700
    world.ledger.transfer(fee(acme, "fee-2", 700))  # to the last mill
    assert world.ledger.balance(acme.number).balances.available == 0


def test_a_line_of_credit_lets_the_balance_go_below_zero_to_its_limit(
    world: LedgerWorld,
) -> None:
    lined = world.customers.add("On credit")
    world.ledger.open_postage_account(lined.number, credit_limit=usd(5_000))
    world.ledger.system_account(AccountKind.FEES, "USD")

    world.ledger.transfer(fee(lined, "fee-1", 4_000))
    with pytest.raises(InsufficientFunds) as refused:
        world.ledger.transfer(fee(lined, "fee-2", 1_001))
    assert refused.value.details["available_mills"] == 1_000
    world.ledger.transfer(fee(lined, "fee-3", 1_000))
    assert world.ledger.balance(lined.number).balances.balance == -5_000
    with pytest.raises(Conflict) as other_limit:
        world.ledger.open_postage_account(lined.number, credit_limit=usd(6_000))
    assert other_limit.value.code == "account_exists"


# ------------------------------------------------------------- currencies


def test_an_amount_in_another_currency_is_refused(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    with pytest.raises(ValidationError) as deposit:
        world.ledger.deposit(acme.number, Money(1_000, "EUR"), "dep-1")
    assert deposit.value.code == "currency_mismatch"
    with pytest.raises(ValidationError) as transfer:
        world.ledger.transfer(attrs.evolve(fee(acme, "fee-1", 10), currency="EUR"))
    assert transfer.value.code == "currency_mismatch"
    with pytest.raises(ValidationError) as limit:
        world.ledger.open_postage_account(acme.number, credit_limit=Money(1, "EUR"))
    assert limit.value.code == "currency_mismatch"
    assert world.repo.transfers == []


# ------------------------------------------ the customer's own objects only


def test_another_customers_reservation_is_not_found(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    held = world.ledger.reserve_postage(acme.number, usd(3_000), "hold-1")
    intruder = world.customers.add("Intruder")
    world.ledger.open_postage_account(intruder.number)

    for attempt in (
        lambda: world.ledger.post_postage(intruder.number, held.id, "post-1"),
        lambda: world.ledger.void_postage(intruder.number, held.id, "void-1"),
        lambda: world.ledger.customer_transfer(intruder.number, held.id),
    ):
        with pytest.raises(NotFound) as refused:
            attempt()
        assert refused.value.code == "transfer_not_found"
    assert world.ledger.balance(acme.number).balances.debits_pending == 3_000
    assert world.ledger.customer_transfers(intruder.number) == []


def test_a_customers_ids_are_its_own(world: LedgerWorld, acme: CustomerAccount) -> None:
    world.ledger.deposit(acme.number, usd(10_000), customer_transfer_id(acme.number, "t-1"))
    assert world.ledger.own_transfer_id(acme.number, "t-1") == f"{acme.number}/t-1"
    other = world.customers.add("Other")
    assert world.ledger.own_transfer_id(other.number, "t-1") == f"{other.number}/t-1"


def test_a_closed_postage_account_takes_no_new_reservation_or_deposit(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    postage = world.ledger.balance(acme.number)
    world.customers.close(
        postage.id,
        AccountClosure(acme.number, postage.code, "USD", 0, None, world.clock.now(), 1),
    )
    with pytest.raises(Conflict) as reserve:
        world.ledger.reserve_postage(acme.number, usd(1), "hold-1")
    assert reserve.value.code == "account_closed"
    with pytest.raises(Conflict) as deposit:
        world.ledger.deposit(acme.number, usd(1), "dep-2")
    assert deposit.value.code == "account_closed"
    assert world.ledger.deposit(acme.number, usd(10_000), "dep-1").replayed  # from before
    assert len(world.repo.transfers) == 1


# ------------------------------------------------------------------ verify


def test_verify_names_a_row_altered_after_it_was_written(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    world.ledger.transfer(fee(acme, "fee-1", 500))
    world.repo.transfers[1] = attrs.evolve(world.repo.transfers[1], amount=5)

    report = world.ledger.verify()

    assert [(p.code, p.seq) for p in report.problems][:1] == [("row_altered", 2)]
    assert "balance_mismatch" in {p.code for p in report.problems}


def test_a_checkpoint_taken_on_fakes_verifies_and_a_forged_one_does_not(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    checkpoint = world.ledger.checkpoint()
    assert world.ledger.verify(checkpoint).ok
    forged = attrs.evolve(checkpoint, signature="0" * 64)
    assert [p.code for p in world.ledger.verify(forged).problems] == ["checkpoint_invalid"]


# ------------------------------------------- another area's unit of work


def test_a_meters_registers_follow_what_is_posted_to_and_from_it(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")
    world.ledger.system_account(AccountKind.POSTAGE_USED, "USD", "USPS")

    def refill_and_print(uow: object) -> None:
        session = world.ledger.within(uow)
        session.open_meter("PM-1", acme, "USPS")
        session.post(
            [
                TransferRequest(id="refill-1", debit=postage_code(acme.number), credit="meter:PM-1",
                                amount=4_000, currency="USD", code=TransferCode.REFILL),
                TransferRequest(id="usage-1", debit="meter:PM-1", credit="used:USPS:USD",
                                amount=1_500, currency="USD", code=TransferCode.USAGE, pieces=3),
            ]
        )  # fmt: skip
        uow.commit()

    world.transactions.run(refill_and_print)

    registers = world.repo.meter_by_serial("PM-1")
    assert registers is not None
    assert (registers.descending, registers.ascending, registers.control_sum, registers.pieces) == (
        2_500,
        1_500,
        4_000,
        3,
    )
    assert world.ledger.balance(acme.number).balances.balance == 6_000
    assert world.ledger.verify().ok


def test_what_another_area_posts_without_committing_is_undone(
    world: LedgerWorld, acme: CustomerAccount
) -> None:
    world.ledger.deposit(acme.number, usd(10_000), "dep-1")

    def abandoned(uow: object) -> None:
        world.ledger.within(uow).post([fee(acme, "fee-1", 500)])

    world.transactions.run(abandoned)

    assert world.ledger.balance(acme.number).balances.balance == 10_000
    assert [t.id for t in world.repo.transfers] == ["dep-1"]
