"""The kiosk operators' badges and cost centres, the terminals' piece log and report,
notices and support cases: pure rules and the kiosks use cases on in-memory fakes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from kiosks_fakes import FakeAccounts, FakeDatabase, FakeFacts, FakeKioskKeys, FakePrices, account

from postroom.core.accounts import model as accounts_model
from postroom.core.accounts.model import KioskOperator
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, PermissionDenied, ValidationError
from postroom.core.kiosks import model
from postroom.core.kiosks.model import KioskPiece, NoticeKind, PieceSource
from postroom.core.kiosks.service import KiosksService
from postroom.core.money import Money
from postroom.frontends.serialise.kiosks import (
    kiosk_piece_from_json,
    kiosk_piece_json,
    piece_report_csv,
    piece_report_from_json,
    piece_report_json,
)

MINE = "1000000009"
OTHER = "2000000008"
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def piece(number: int, mills: int, center: str | None, who: str, **changes: object) -> KioskPiece:
    values: dict[str, object] = {
        "serial": "PR-V1000000009",
        "piece": number,
        "printed_at": NOW + timedelta(minutes=number),
        "postage": Money(mills, "USD"),
        "carrier": "usps",
        "service": "first-class-letter",
        "cost_center": center,
        "operator_id": 1 if who == "Alice" else 2,
        "operator_name": who,
        "terminal": "Mailroom",
        **changes,
    }
    return KioskPiece(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------ pure rules


def test_a_badge_is_kept_as_a_hash_keyed_with_the_installations_secret() -> None:
    badge = accounts_model.parse_badge("  04A1B2C3D4  ")
    assert badge == "04A1B2C3D4"
    first = accounts_model.badge_hash("secret-one", badge)
    assert first == accounts_model.badge_hash("secret-one", badge)
    assert first != accounts_model.badge_hash("secret-two", badge)  # a dump alone is useless
    assert badge not in first
    for bad in ("abc", "x" * 65, "bad\x00code", "badgé-code"):
        with pytest.raises(ValidationError) as refused:
            accounts_model.parse_badge(bad)
        assert refused.value.code == "invalid_badge"


def test_an_operator_books_only_to_their_cost_centres() -> None:
    anyone = KioskOperator(1, 1, "Alice", NOW)
    anyone.check_cost_center("Sales")
    anyone.check_cost_center(None)
    assert anyone.usable_cost_centers(("Legal", "Sales")) == ("Legal", "Sales")
    legal = KioskOperator(2, 1, "Bob", NOW, cost_centers=("Legal",))
    assert legal.usable_cost_centers(("Legal", "Sales")) == ("Legal",)
    legal.check_cost_center("Legal")
    for refused_center in ("Sales", None):
        with pytest.raises(PermissionDenied) as refused:
            legal.check_cost_center(refused_center)
        assert refused.value.code == "cost_center_not_allowed"


def test_an_operators_cost_centres_are_the_accounts() -> None:
    names = accounts_model.parse_operator_cost_centers(["Legal", " Legal ", "Sales"])
    assert names == ("Legal", "Sales")
    accounts_model.check_cost_centers_exist(names, ("Legal", "Sales", "HR"))
    with pytest.raises(ValidationError) as unknown:
        accounts_model.check_cost_centers_exist(("Legal", "Marketing"), ("Legal",))
    assert unknown.value.code == "unknown_cost_center"
    with pytest.raises(ValidationError):
        accounts_model.parse_operator_cost_centers("Legal")  # a list, not a string


def test_the_report_sums_by_cost_centre_and_by_operator_in_mills() -> None:
    pieces = [
        piece(1, 730, "Legal", "Alice"),
        piece(2, 1_575, "Sales", "Bob"),
        piece(3, 730, "Legal", "Bob"),
        piece(4, 5, None, "Alice"),
    ]
    report = model.report_of(date(2026, 12, 2), "USD", list(reversed(pieces)))
    assert [p.piece for p in report.pieces] == [1, 2, 3, 4]
    assert report.total == Money(3_040, "USD")
    assert [(line.name, line.pieces, line.postage.mills) for line in report.by_cost_center] == [
        ("Sales", 1, 1_575),
        ("Legal", 2, 1_460),
        ("", 1, 5),
    ]
    assert [(line.name, line.pieces) for line in report.by_operator] == [("Bob", 2), ("Alice", 2)]


def test_the_csv_has_exact_amounts_and_no_formulas() -> None:
    report = model.report_of(
        date(2026, 12, 2),
        "USD",
        [piece(1, 1_005, "=HYPERLINK()", "Alice"), piece(2, 730, "Legal", "+Bob")],
    )
    text = piece_report_csv(report)
    rows = [row.split(",") for row in text.splitlines()]
    assert rows[0][:3] == ["printed_at", "terminal", "operator"]
    assert rows[1][3] == "'=HYPERLINK()"
    assert rows[1][8] == "1.005"
    assert rows[2][2] == "'+Bob"
    assert rows[2][8] == "0.730"
    assert rows[-1] == ["total", "all", "", "2", "1.735", "USD"]


def test_a_piece_and_a_report_cross_the_api_unchanged() -> None:
    sent = piece(7, 730, "Legal", "Alice", source=PieceSource.METER)
    assert kiosk_piece_from_json(kiosk_piece_json(sent), "Mailroom") == sent
    report = model.report_of(date(2026, 12, 2), "USD", [sent])
    assert piece_report_from_json(piece_report_json(report)) == report
    with pytest.raises(ValidationError):
        kiosk_piece_from_json({**kiosk_piece_json(sent), "printed_at": "2026-12-02T09:30"}, "x")


def test_notices_say_low_funds_and_a_meters_inspection() -> None:
    assert model.funds_notice(Money(19_999, "USD"), None) is not None  # below 20 by default
    assert model.funds_notice(Money(20_000, "USD"), None) is None
    assert model.funds_notice(Money(60_000, "USD"), Money(75_000, "USD")) is not None
    due, lock = NOW - timedelta(days=1), NOW + timedelta(days=10)
    found = model.inspection_notice("PM-1", due, lock, NOW)
    assert found is not None
    assert found.kind is NoticeKind.INSPECTION_DUE
    late = model.inspection_notice("PM-1", due, NOW, NOW)
    assert late is not None
    assert late.kind is NoticeKind.INSPECTION_OVERDUE
    assert model.inspection_notice("PM-1", NOW + timedelta(days=1), lock, NOW) is None
    assert model.inspection_notice("PR-V1", None, None, NOW) is None  # a virtual meter


# ------------------------------------------------------------------ use cases


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def facts(db: FakeDatabase) -> FakeFacts:
    return FakeFacts(db)


@pytest.fixture
def kiosks(db: FakeDatabase, facts: FakeFacts) -> KiosksService:
    return KiosksService(
        db,
        FrozenClock.at("2026-12-02T18:00:00+00:00"),
        accounts=FakeAccounts({MINE: account(MINE), OTHER: account(OTHER, "FR", "EUR")}),
        prices=FakePrices(),
        facts=facts,
        repository=lambda uow: FakeKioskKeys(db),
    )


def test_a_piece_is_logged_once_however_often_it_is_sent(
    kiosks: KiosksService, db: FakeDatabase
) -> None:
    sent = piece(1, 730, "Legal", "Alice")
    assert kiosks.log_piece(MINE, sent) is True
    assert kiosks.log_piece(MINE, sent) is False  # the queue's retry
    assert len(db.state.pieces) == 1
    with pytest.raises(Conflict) as changed:
        kiosks.log_piece(MINE, piece(1, 999, "Legal", "Alice"))
    assert changed.value.code == "piece_conflict"
    with pytest.raises(ValidationError) as currency:  # another account's currency
        kiosks.log_piece(OTHER, piece(2, 730, None, "Alice"))
    assert currency.value.code == "currency_mismatch"
    report = kiosks.report(MINE)
    assert report.day == date(2026, 12, 2)
    assert report.total == Money(730, "USD")
    assert kiosks.report(MINE, terminal="Reception").pieces == ()
    assert kiosks.report(MINE, date(2026, 12, 1)).pieces == ()


def test_a_case_from_a_terminal_is_opened_once_per_key(
    kiosks: KiosksService, db: FakeDatabase
) -> None:
    first = kiosks.open_case(MINE, "Alice", "Scale", "It says over capacity", "case-00000001")
    again = kiosks.open_case(MINE, "Alice", "Scale", "It says over capacity", "case-00000001")
    assert first == again == "C-0001"
    assert len(db.state.cases) == 1
    other = kiosks.open_case(MINE, "Alice", "Printer", "No labels", "case-00000002")
    assert other == "C-0002"
    with pytest.raises(ValidationError):
        kiosks.open_case(MINE, "Alice", "Printer", "No labels", "short")


def test_the_notices_of_an_account(kiosks: KiosksService, facts: FakeFacts) -> None:
    assert kiosks.notices(MINE) == []
    facts.available = Money(4_250, "USD")
    facts.meters = [("PM-100", datetime(2026, 12, 1, tzinfo=UTC), None)]
    kinds = [notice.kind for notice in kiosks.notices(MINE)]
    assert kinds == [NoticeKind.FUNDS_LOW, NoticeKind.INSPECTION_DUE]
