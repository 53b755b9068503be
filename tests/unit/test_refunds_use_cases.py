"""``pr.refunds``' use cases on in-memory fakes: requests within and after the window,
replays and ``refund_id_reused``, the agent's decision, another customer's refund."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fakes_money import FakeAccounts, FakeLedger, open_customer
from fakes_refunds import FakeRefunds
from fakes_transactions import FakeDatabase

from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.ledger.model import AccountKind
from postroom.core.ledger.service import postage_code, system_code
from postroom.core.refunds.model import PieceClaim, RefundPolicy, RefundStatus
from postroom.core.refunds.service import RefundService

NOW = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
ALICE, BOB = "1000001", "1000002"


class World:
    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.refunds = FakeRefunds()
        self.ledger = FakeLedger(self.db)
        self.accounts = FakeAccounts()
        self.db.hold(self.refunds, self.ledger, self.accounts)
        self.clock = FrozenClock(NOW)
        self.service = RefundService(
            self.db,  # type: ignore[arg-type]
            self.clock,
            self.ledger,  # type: ignore[arg-type]
            self.accounts,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]  # logged pieces are not asked here
            RefundPolicy(),
            refunds=lambda uow: self.refunds,
        )
        self.alice = open_customer(self.ledger, self.accounts, ALICE)
        self.bob = open_customer(self.ledger, self.accounts, BOB)
        self.meter = self.ledger.open_meter("PB100", self.alice, "usps")
        # pieces 1-3 in one usage report, piece 4 alone
        self.ledger.record_usage("PB100", "use:1", 2190, 3)
        self.ledger.record_usage("PB100", "use:2", 730, 1)


@pytest.fixture
def world() -> World:
    return World()


def claim(piece: int, face: int = 730, day: date = TODAY) -> PieceClaim:
    return PieceClaim(piece=piece, face=face, indicium_date=day)


def test_a_request_within_the_window_awaits_an_agent_with_its_fee(world: World) -> None:
    day_60 = TODAY - timedelta(days=60)
    refund = world.service.request(
        ALICE, "r1", "PB100", [claim(2, day=day_60), claim(4)], "misprinted"
    )
    assert refund.status is RefundStatus.REQUESTED
    assert (refund.face, refund.fee, refund.net) == (1460, 150, 1310)  # 10 %, to the cent
    assert [p.usage_transfer_id for p in refund.pieces] == ["use:1", "use:2"]
    assert world.service.get(ALICE, "r1") == refund
    assert world.ledger.transfers.keys() == {"use:1", "use:2"}  # no money moves yet


def test_a_piece_past_the_60_day_window_is_refused_and_nothing_is_stored(world: World) -> None:
    day_61 = TODAY - timedelta(days=61)
    with pytest.raises(ValidationError) as error:
        world.service.request(ALICE, "r1", "PB100", [claim(1), claim(2, day=day_61)], "misprinted")
    assert error.value.code == "refund_window_passed"
    assert world.refunds.rows == {}
    with pytest.raises(ValidationError) as error:
        world.service.request(
            ALICE, "r1", "PB100", [claim(1, day=TODAY + timedelta(days=1))], "misprinted"
        )
    assert error.value.code == "indicium_date_in_future"


def test_the_same_request_again_answers_the_first_and_another_body_is_refused(world: World) -> None:
    first = world.service.request(ALICE, "r1", "PB100", [claim(4)], "misprinted", note="jam")
    again = world.service.request(ALICE, "r1", " PB100 ", [claim(4)], "misprinted", note="jam")
    assert again == first
    assert again.replayed
    assert not first.replayed
    with pytest.raises(Conflict) as error:
        world.service.request(ALICE, "r1", "PB100", [claim(4)], "misprinted", note="other")
    assert error.value.code == "refund_id_reused"
    assert len(world.refunds.rows) == 1


def test_a_piece_is_asked_back_once_while_a_refund_claims_it(world: World) -> None:
    world.service.request(ALICE, "r1", "PB100", [claim(4)], "misprinted")
    with pytest.raises(Conflict) as error:
        world.service.request(ALICE, "r2", "PB100", [claim(4)], "spoiled")
    assert error.value.code == "piece_already_refunded"
    world.service.reject(ALICE, "r1", "agent Ann", "no proof")
    assert world.service.request(ALICE, "r2", "PB100", [claim(4)], "spoiled").pieces[0].piece == 4


def test_claims_must_fit_what_the_meter_recorded(world: World) -> None:
    cases = [
        ([claim(5)], "piece_not_printed"),  # the meter counted 4 pieces
        ([claim(4, face=731)], "face_value_mismatch"),  # piece 4 alone was 730
        ([claim(1, 1000), claim(2, 1000), claim(3, 1000)], "face_value_mismatch"),  # 2190 left
    ]
    for claims, code in cases:
        with pytest.raises(ValidationError) as error:
            world.service.request(ALICE, "r1", "PB100", claims, "misprinted")
        assert error.value.code == code
    assert world.refunds.rows == {}


def test_another_customers_meter_and_refund_are_not_found(world: World) -> None:
    with pytest.raises(NotFound) as error:
        world.service.request(BOB, "r1", "PB100", [claim(4)], "misprinted")
    assert error.value.code == "meter_not_found"
    world.service.request(ALICE, "r1", "PB100", [claim(4)], "misprinted")
    for call in (
        lambda: world.service.get(BOB, "r1"),
        lambda: world.service.approve(BOB, "r1", "agent Ann"),
        lambda: world.service.reject(BOB, "r1", "agent Ann", "no"),
    ):
        with pytest.raises(NotFound) as error:
            call()
        assert error.value.code == "refund_not_found"
    assert world.service.get(ALICE, "r1").status is RefundStatus.REQUESTED


def test_an_approval_credits_the_face_less_the_fee_once(world: World) -> None:
    world.service.request(ALICE, "r1", "PB100", [claim(4)], "misprinted")
    approved = world.service.approve(ALICE, "r1", "agent Ann", note="ok")
    assert (approved.status, approved.agent, approved.decided_at) == (
        RefundStatus.APPROVED,
        "agent Ann",
        NOW,
    )
    postage = postage_code(ALICE)
    assert world.ledger.balance(postage) == 730 - 70
    assert world.ledger.balance(system_code(AccountKind.FEES, "USD")) == 70
    assert world.service.approve(ALICE, "r1", "agent Bob") == approved  # changes nothing
    assert world.ledger.balance(postage) == 660
    with pytest.raises(Conflict) as error:
        world.service.reject(ALICE, "r1", "agent Bob", "too late")
    assert error.value.code == "refund_approved"


def test_a_rejected_refund_cannot_be_approved(world: World) -> None:
    world.service.request(ALICE, "r1", "PB100", [claim(4)], "misprinted")
    rejected = world.service.reject(ALICE, "r1", "agent Ann", "no proof")
    assert (rejected.status, rejected.decision_note) == (RefundStatus.REJECTED, "no proof")
    with pytest.raises(Conflict) as error:
        world.service.approve(ALICE, "r1", "agent Ann")
    assert error.value.code == "refund_rejected"
    assert world.ledger.balance(postage_code(ALICE)) == 0
    with pytest.raises(ValidationError) as error:
        world.service.approve(ALICE, "r1", "  ")
    assert error.value.code == "missing_agent"


def test_a_closed_postage_account_takes_no_request(world: World) -> None:
    closed = world.service.close_account(BOB)
    assert closed.refunded == 0
    world.ledger.open_meter("PB200", world.bob, "usps")
    world.ledger.record_usage("PB200", "use:3", 730, 1)
    with pytest.raises(Conflict) as error:
        world.service.request(BOB, "r1", "PB200", [claim(1)], "misprinted")
    assert error.value.code == "account_closed"
