"""Transaction reports' pure parts: date bounds, types, totals and the CSV rendering."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.errors import ValidationError
from postroom.core.ledger.model import (
    ReportEntry,
    ReportType,
    TransactionReport,
    TransferCode,
    parse_moment,
    parse_report_types,
)
from postroom.frontends.serialise.ledger import report_csv, report_json


def test_a_bare_to_date_includes_the_whole_day():
    assert parse_moment("2026-03-31") == datetime(2026, 3, 31, tzinfo=UTC)
    assert parse_moment("2026-03-31", end=True) == datetime(2026, 4, 1, tzinfo=UTC)
    assert parse_moment("2026-03-31T10:00:00+02:00") == datetime(2026, 3, 31, 8, tzinfo=UTC)
    assert parse_moment("9999-12-31", end=True).year == 9999


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "31/03/2026", "x" * 100])
def test_bad_dates_are_a_validation_error(text):
    with pytest.raises(ValidationError) as caught:
        parse_moment(text)
    assert caught.value.code == "invalid_date"


def test_types_repeat_or_comma_separate():
    assert parse_report_types(["fund,print", "fund", " FEE "]) == (
        ReportType.FUND,
        ReportType.PRINT,
        ReportType.FEE,
    )
    with pytest.raises(ValidationError) as caught:
        parse_report_types(["refill"])
    assert caught.value.code == "invalid_type"


def _entry(seq: int, amount: int, account: str = "postage:1", reference: str = "") -> ReportEntry:
    return ReportEntry(
        seq=seq,
        transfer_id=f"t{seq}",
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
        type=ReportType.FUND if amount > 0 else ReportType.TRANSFER,
        code=TransferCode.DEPOSIT if amount > 0 else TransferCode.REFILL,
        account=account,
        counterparty="payment_clearing:USD",
        meter=None,
        amount=amount,
        currency="USD",
        pieces=0,
        reference=reference,
    )


@given(st.lists(st.integers(-(10**12), 10**12).filter(bool), max_size=30))
def test_totals_add_up_to_the_entries(amounts):
    report = TransactionReport.build(
        "1", "USD", ["postage:1"], [_entry(i, a) for i, a in enumerate(amounts)]
    )
    total = report.total("postage:1")
    assert total.net == sum(amounts)
    assert total.count == len(amounts)
    assert sum(net for _, net in report.by_type) == sum(amounts)
    body = report_json(report)
    assert all(isinstance(e["amount"]["amount"], str) for e in body["entries"])


def test_csv_amounts_are_exact_and_formulas_are_defused():
    report = TransactionReport.build(
        "1", "USD", ["postage:1"], [_entry(1, 12_345), _entry(2, -7_300, reference="=HYPERLINK(1)")]
    )
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert [r["amount"] for r in rows] == ["12.345", "-7.30"]
    assert rows[1]["reference"] == "'=HYPERLINK(1)"
