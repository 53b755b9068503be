"""Refunds of metered postage and closing a postage account, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PostroomError,
    ValidationError,
)
from postroom.core.ledger.model import ReportType
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money
from postroom.core.refunds.model import IndiciumProof, PieceClaim, RefundStatus

TODAY = date(2026, 3, 2)  # the clock fixture's day
USD = "USD"


@pytest.fixture
def metered(pr: Postroom, customer: CustomerAccount) -> str:
    """A customer with 100.00 USD deposited, meter PB-1 refilled with 50.00 and three
    usage reports: piece 1 (0.73), pieces 2-6 (5.00 together), piece 7 (12.40)."""
    n = customer.number
    pr.ledger.deposit(n, Money.parse("100 USD"), "dep-1")
    pr.meters.funds.register_meter("PB-1", n, "USPS")
    pr.meters.funds.refill("PB-1", Money.parse("50 USD"), "refill-1")
    pr.meters.funds.record_usage("PB-1", Money.parse("0.73 USD"), 1, "use-1")
    pr.meters.funds.record_usage("PB-1", Money.parse("5.00 USD"), 5, "use-2")
    pr.meters.funds.record_usage("PB-1", Money.parse("12.40 USD"), 1, "use-3")
    return n


def claim(piece: int, mills: int, day: date = TODAY) -> PieceClaim:
    return PieceClaim(piece, mills, day)


def table_counts(pr: Postroom) -> tuple[int, int, int]:
    def work(uow):  # type: ignore[no-untyped-def]
        c = uow.connection
        return tuple(
            c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()
            for t in ("refunds", "refund_pieces", "ledger_transfers")
        )

    return pr.db.run(work, readonly=True)


def test_request_then_approve_credits_the_postage_account(pr: Postroom, metered: str) -> None:
    before = pr.ledger.balance(metered).balances.balance  # 50.00
    used_before = pr.ledger.account("used:USPS:USD").balances
    refund = pr.refunds.request(
        metered, "rf-1", "PB-1", [claim(1, 730), claim(7, 12_400)], "misprinted", note="smudged"
    )
    assert refund.status is RefundStatus.REQUESTED
    assert (refund.face, refund.fee, refund.net) == (13_130, 1_310, 11_820)
    assert pr.ledger.balance(metered).balances.balance == before  # nothing moves yet

    approved = pr.refunds.approve(metered, "rf-1", "Jane Agent", note="envelopes seen")
    assert approved.status is RefundStatus.APPROVED
    assert (approved.agent, approved.decision_note) == ("Jane Agent", "envelopes seen")
    assert pr.ledger.balance(metered).balances.balance == before + 11_820
    assert pr.ledger.account("fees:USD").balances.balance == 1_310
    used = pr.ledger.account("used:USPS:USD").balances
    assert used.debits_posted - used_before.debits_posted == 13_130
    report = pr.ledger.report(metered, types=[ReportType.REFUND, ReportType.FEE])
    assert [(e.type, e.amount) for e in report.entries] == [
        (ReportType.REFUND, 13_130),
        (ReportType.FEE, -1_310),
    ]
    assert pr.meters.funds.registers("PB-1").ascending == 18_130  # the meter did print them
    assert pr.ledger.verify().ok


def test_approving_twice_moves_money_once(pr: Postroom, metered: str) -> None:
    pr.refunds.request(metered, "rf-1", "PB-1", [claim(1, 730)], "spoiled")
    first = pr.refunds.approve(metered, "rf-1", "jane")
    balance = pr.ledger.balance(metered).balances.balance
    rows = table_counts(pr)
    again = pr.refunds.approve(metered, "rf-1", "john")
    assert again == first  # the first decision stands, agent included
    assert pr.ledger.balance(metered).balances.balance == balance
    assert table_counts(pr) == rows
    with pytest.raises(Conflict) as refused:
        pr.refunds.reject(metered, "rf-1", "john", "too late")
    assert refused.value.code == "refund_approved"


def test_reject_moves_nothing_and_frees_the_pieces(pr: Postroom, metered: str) -> None:
    balance = pr.ledger.balance(metered).balances.balance
    pr.refunds.request(metered, "rf-1", "PB-1", [claim(1, 730)], "spoiled")
    rejected = pr.refunds.reject(metered, "rf-1", "jane", "no envelope was sent")
    assert rejected.status is RefundStatus.REJECTED
    assert rejected.decision_note == "no envelope was sent"
    assert pr.ledger.balance(metered).balances.balance == balance
    assert pr.refunds.reject(metered, "rf-1", "jane", "again") == rejected
    with pytest.raises(Conflict) as refused:
        pr.refunds.approve(metered, "rf-1", "jane")
    assert refused.value.code == "refund_rejected"
    with pytest.raises(ValidationError):
        pr.refunds.reject(metered, "rf-1", "jane", "  ")  # a reason is required
    # the piece may be asked back again, under a new id
    again = pr.refunds.request(metered, "rf-2", "PB-1", [claim(1, 730)], "spoiled")
    assert again.status is RefundStatus.REQUESTED


def test_a_piece_is_refunded_once(pr: Postroom, metered: str) -> None:
    pr.refunds.request(metered, "rf-1", "PB-1", [claim(1, 730)], "spoiled")
    rows = table_counts(pr)
    with pytest.raises(Conflict) as refused:
        pr.refunds.request(metered, "rf-2", "PB-1", [claim(7, 12_400), claim(1, 730)], "spoiled")
    assert refused.value.code == "piece_already_refunded"
    assert refused.value.details["pieces"] == [1]
    pr.refunds.approve(metered, "rf-1", "jane")
    with pytest.raises(Conflict):
        pr.refunds.request(metered, "rf-3", "PB-1", [claim(1, 730)], "spoiled")
    assert table_counts(pr)[:2] == (rows[0], rows[1])


def test_the_same_request_id_answers_the_first_request(pr: Postroom, metered: str) -> None:
    first = pr.refunds.request(metered, "rf-1", "PB-1", [claim(1, 730)], "spoiled")
    assert pr.refunds.request(metered, "rf-1", "PB-1", [claim(1, 730)], "spoiled") == first
    with pytest.raises(Conflict) as refused:
        pr.refunds.request(metered, "rf-1", "PB-1", [claim(7, 12_400)], "spoiled")
    assert refused.value.code == "refund_id_reused"


def test_face_values_are_checked_against_the_meters_usage(pr: Postroom, metered: str) -> None:
    rows = table_counts(pr)
    cases = [
        ([claim(1, 700)], "face_value_mismatch"),  # piece 1 alone was 0.73
        ([claim(8, 100)], "piece_not_printed"),  # the meter printed 7 pieces
        ([claim(2, 3000), claim(3, 2001)], "face_value_mismatch"),  # 5.001 > 5.00 for 2-6
    ]
    for claims, code in cases:
        with pytest.raises(PostroomError) as refused:
            pr.refunds.request(metered, "rf-x", "PB-1", claims, "spoiled")
        assert refused.value.code == code
    assert table_counts(pr) == rows
    # pieces of a multi-piece report: together at most what that report recorded
    pr.refunds.request(metered, "rf-a", "PB-1", [claim(2, 3000)], "spoiled")
    with pytest.raises(ValidationError) as refused:
        pr.refunds.request(metered, "rf-b", "PB-1", [claim(3, 2001)], "spoiled")
    assert refused.value.code == "face_value_mismatch"
    pr.refunds.request(metered, "rf-b", "PB-1", [claim(3, 2000)], "spoiled")


def test_the_window_is_judged_with_the_clock(
    pr: Postroom, metered: str, clock: FrozenClock
) -> None:
    printed = TODAY
    clock.advance(timedelta(days=60))
    pr.refunds.request(metered, "rf-60", "PB-1", [claim(1, 730, printed)], "spoiled")
    clock.advance(timedelta(days=1))
    with pytest.raises(ValidationError) as refused:
        pr.refunds.request(metered, "rf-61", "PB-1", [claim(7, 12_400, printed)], "spoiled")
    assert refused.value.code == "refund_window_passed"
    with pytest.raises(ValidationError) as refused:
        pr.refunds.request(
            metered, "rf-f", "PB-1", [claim(7, 12_400, printed + timedelta(days=90))], "spoiled"
        )
    assert refused.value.code == "indicium_date_in_future"


def test_another_customers_meter_and_refund_are_not_found(pr: Postroom, metered: str) -> None:
    other = pr.accounts.create("Other Co", "US", "USD").number
    pr.ledger.deposit(other, Money.parse("10 USD"), "dep-other")
    with pytest.raises(NotFound) as refused:
        pr.refunds.request(other, "rf-1", "PB-1", [claim(1, 730)], "spoiled")
    assert refused.value.code == "meter_not_found"
    pr.refunds.request(metered, "rf-1", "PB-1", [claim(1, 730)], "spoiled")
    with pytest.raises(NotFound) as refused:
        pr.refunds.get(other, "rf-1")
    assert refused.value.code == "refund_not_found"
    with pytest.raises(NotFound):
        pr.refunds.approve(other, "rf-1", "jane")
    assert pr.refunds.list(other) == []
    assert [r.id for r in pr.refunds.list(metered)] == ["rf-1"]
    assert [r.id for r in pr.refunds.list(status="requested")] == ["rf-1"]


def test_bad_input_writes_nothing(pr: Postroom, metered: str) -> None:
    rows = table_counts(pr)
    for call, code in [
        (
            lambda: pr.refunds.request(metered, "rf-1", "NOPE-9", [claim(1, 730)], "spoiled"),
            "meter_not_found",
        ),
        (
            lambda: pr.refunds.request(metered, "rf 1", "PB-1", [claim(1, 730)], "spoiled"),
            "invalid_refund_id",
        ),
        (lambda: pr.refunds.request(metered, "rf-1", "PB-1", [], "spoiled"), "no_pieces"),
        (
            lambda: pr.refunds.request(metered, "rf-1", "PB-1", [claim(1, 730)], "lost"),
            "invalid_reason",
        ),
        (
            lambda: pr.refunds.request(
                metered, "rf-1", "PB-1", [claim(1, 730)], "spoiled", public_key_pem="nope"
            ),
            "invalid_public_key",
        ),
        (
            lambda: pr.refunds.request("0000000000", "rf-1", "PB-1", [claim(1, 730)], "spoiled"),
            None,
        ),
        (lambda: pr.refunds.approve(metered, "missing", "jane"), "refund_not_found"),
        (lambda: pr.refunds.approve(metered, "missing", ""), "missing_agent"),
        (lambda: pr.refunds.list(status="pending"), "invalid_status"),
    ]:
        with pytest.raises(PostroomError) as refused:
            call()
        if code is not None:
            assert refused.value.code == code
    assert table_counts(pr) == rows


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_a_signed_indicium_is_verified_when_the_key_is_given(pr: Postroom, metered: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    record = IndiciumRecord(
        "PB-1", 7, Money(12_400, USD), TODAY, "10001", "PM", 18_130, 31_870, b"\1" * 32
    ).to_bytes()
    good = key.sign(record, ec.ECDSA(hashes.SHA256()))
    piece = PieceClaim(7, 12_400, TODAY, IndiciumProof(record, good))
    forged = PieceClaim(7, 12_400, TODAY, IndiciumProof(record, good[:-1] + bytes([good[-1] ^ 1])))
    with pytest.raises(PermissionDenied) as refused:
        pr.refunds.request(metered, "rf-1", "PB-1", [forged], "spoiled", public_key_pem=_pem(key))
    assert refused.value.code == "indicium_signature_invalid"
    done = pr.refunds.request(metered, "rf-1", "PB-1", [piece], "spoiled", public_key_pem=_pem(key))
    assert done.pieces[0].verified is True


# ------------------------------------------------------------------------- closing


def test_closing_refuses_active_meters_then_refunds_the_rest(pr: Postroom, metered: str) -> None:
    with pytest.raises(Conflict) as refused:
        pr.refunds.close_account(metered)
    assert refused.value.code == "active_meters"
    assert refused.value.details["meters"] == ["PB-1"]
    pr.meters.funds.withdraw_meter("PB-1", "withdraw-1")  # 31.87 back to the postage account
    left = pr.ledger.balance(metered).balances.balance
    assert left == 50_000 + 31_870
    closure = pr.refunds.close_account(metered)
    assert closure.refunded == left
    assert pr.ledger.balance(metered).balances.balance == 0
    assert pr.ledger.account("refunds:USD").balances.balance == left
    assert pr.refunds.close_account(metered) == closure  # closing again: the same answer
    assert pr.refunds.closure(metered) == closure
    for call in (
        lambda: pr.ledger.deposit(metered, Money.parse("1 USD"), "dep-after"),
        lambda: pr.ledger.reserve_postage(metered, Money.parse("1 USD"), "res-after"),
        lambda: pr.meters.funds.register_meter("PB-2", metered, "USPS"),
        lambda: pr.refunds.request(metered, "rf-9", "PB-1", [claim(1, 730)], "spoiled"),
    ):
        with pytest.raises(Conflict) as refused:
            call()
        assert refused.value.code == "account_closed"
    assert pr.ledger.deposit(metered, Money.parse("100 USD"), "dep-1").id == "dep-1"  # a replay
    report = pr.ledger.report(metered, types=[ReportType.REFUND])
    assert [e.amount for e in report.entries] == [-left]
    assert pr.ledger.verify().ok


def test_closing_without_meters_and_with_nothing_left(
    pr: Postroom, customer: CustomerAccount
) -> None:
    pr.ledger.open_postage_account(customer.number)
    closure = pr.refunds.close_account(customer.number)
    assert (closure.refunded, closure.transfer_id) == (0, None)
    with pytest.raises(Conflict):
        pr.ledger.deposit(customer.number, Money.parse("5 USD"), "d")


def test_closing_refuses_reservations_and_undecided_refunds(pr: Postroom, metered: str) -> None:
    pr.refunds.request(metered, "rf-1", "PB-1", [claim(1, 730)], "spoiled")
    pr.meters.funds.withdraw_meter("PB-1", "withdraw-1")
    with pytest.raises(Conflict) as refused:
        pr.refunds.close_account(metered)
    assert refused.value.code == "pending_refunds"
    pr.refunds.approve(metered, "rf-1", "jane")
    pr.ledger.reserve_postage(metered, Money.parse("1 USD"), "res-1")
    with pytest.raises(Conflict) as refused:
        pr.refunds.close_account(metered)
    assert refused.value.code == "pending_reservations"
    pr.ledger.void_postage(metered, "res-1", "void-1")
    assert (
        pr.refunds.close_account(metered).refunded
        == pr.ledger.account("refunds:USD").balances.balance
    )


def test_closing_refuses_an_account_that_owes_its_credit_line(
    pr: Postroom, customer: CustomerAccount
) -> None:
    pr.ledger.open_postage_account(customer.number, credit_limit=Money.parse("20 USD"))
    pr.ledger.reserve_postage(customer.number, Money.parse("5 USD"), "res-1")
    pr.ledger.post_postage(customer.number, "res-1", "post-1")
    with pytest.raises(Conflict) as refused:
        pr.refunds.close_account(customer.number)
    assert refused.value.code == "balance_owed"


def test_a_refund_is_booked_to_the_cost_center_of_its_pieces(pr: Postroom, metered: str) -> None:
    pr.meters.funds.record_usage(
        "PB-1", Money.parse("2.00 USD"), 1, "use-legal", cost_center="Legal"
    )
    pr.meters.funds.record_usage(
        "PB-1", Money.parse("3.00 USD"), 1, "use-sales", cost_center="Sales"
    )
    pr.refunds.request(metered, "rf-legal", "PB-1", [claim(8, 2_000)], "spoiled")
    pr.refunds.approve(metered, "rf-legal", "jane")
    legal = pr.ledger.report(metered, cost_center="Legal")
    assert [(e.type, e.amount) for e in legal.entries if e.account.startswith("postage:")] == [
        (ReportType.REFUND, 2_000),
        (ReportType.FEE, -200),
    ]
    # pieces of two departments: the refund names none
    pr.refunds.request(metered, "rf-mixed", "PB-1", [claim(1, 730), claim(9, 3_000)], "spoiled")
    done = pr.refunds.approve(metered, "rf-mixed", "jane")
    assert (
        pr.ledger.customer_transfer(metered, done.refund_transfer_id).transfer.cost_center is None
    )


def _race(pr: Postroom, calls: list) -> list[str]:  # type: ignore[type-arg]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(calls))

    def run(call) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            call()
            outcomes.append("ok")
        except PostroomError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


def test_concurrent_requests_claim_a_piece_once(pr: Postroom, metered: str) -> None:
    calls = [
        (lambda i=i: pr.refunds.request(metered, f"rf-{i}", "PB-1", [claim(1, 730)], "spoiled"))
        for i in range(6)
    ]
    assert _race(pr, calls) == ["ok"] + ["piece_already_refunded"] * 5
    # pieces 2-6 were one report of 5.00: two claims of 3.00 cannot both pass
    calls = [
        (lambda p=p: pr.refunds.request(metered, f"rf-p{p}", "PB-1", [claim(p, 3_000)], "spoiled"))
        for p in (2, 3)
    ]
    assert _race(pr, calls) == ["face_value_mismatch", "ok"]
    (winner,) = [r.id for r in pr.refunds.list(metered) if r.pieces[0].piece == 1]
    approvals = [(lambda: pr.refunds.approve(metered, winner, "jane")) for _ in range(4)]
    before = pr.ledger.balance(metered).balances.balance
    assert _race(pr, approvals) == ["ok"] * 4
    assert pr.ledger.balance(metered).balances.balance == before + 730 - 70
    assert pr.ledger.verify().ok
