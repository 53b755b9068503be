"""Invoices on the real store (SQLite, and PostgreSQL in the PostgreSQL pass): issued,
numbered without gaps, read back whole, corrected by credit note, account-scoped."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from postroom.core.app import Postroom
from postroom.core.billing.model import InvoiceStatus, LineItem
from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money


@pytest.fixture
def numbers(postroom: Postroom) -> dict[str, str]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD")
    other = postroom.accounts.create("Other Mailroom", "CA", "CAD")
    postroom.billing.set_profile(
        mine.number, region="NY", billing_address=["1 Main St", "New York NY 10001"]
    )
    postroom.billing.set_profile(other.number, region="QC")
    return {"mine": mine.number, "other": other.number}


def test_an_invoice_is_stored_whole_and_read_back(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    issued = postroom.billing.issue_invoice(
        numbers["mine"],
        [
            LineItem("Ink cartridge", 2, Money.of("39.995", "USD")),
            LineItem("Labels", 1, Money.of("12.00", "USD")),
        ],
        kind="supplies",
        reference="order:1",
        installation_number="12345678903",
    )
    read = postroom.billing.get(numbers["mine"], issued.number)
    assert read == issued
    assert read.number == "INV-2026-000001"
    assert read.total == Money.of("95.67", "USD")  # 79.99 + 12.00 + 4 % (3.20 + 0.48)
    assert read.customer.address == ("1 Main St", "New York NY 10001")
    assert (
        postroom.billing.issue_invoice(
            numbers["mine"],
            [LineItem("x", 1, Money.of("1", "USD"))],
            kind="supplies",
            reference="order:1",
        )
        == issued
    )
    with pytest.raises(NotFound):
        postroom.billing.get(numbers["other"], issued.number)


def test_a_refused_invoice_leaves_no_gap_and_a_credit_note_corrects(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    with pytest.raises(ValidationError):
        postroom.billing.issue_invoice(
            numbers["other"],
            [LineItem("Ink", 1, Money.of("1", "USD"))],
            kind="supplies",
            reference="a",
        )
    first = postroom.billing.issue_invoice(
        numbers["other"],
        [LineItem("Ink", 1, Money.of("100", "CAD"))],
        kind="supplies",
        reference="a",
    )
    assert first.number == "INV-2026-000001"
    assert [t.name for t in first.tax_summary()] == ["GST", "QST"]
    note = postroom.billing.credit(numbers["other"], first.number, "duplicate order")
    assert note.total == -first.total
    assert postroom.billing.get(numbers["other"], first.number).status is InvoiceStatus.CREDITED
    listed = postroom.billing.list(numbers["other"])
    assert {i.number for i in listed} == {first.number, note.number}
    assert postroom.billing.list(numbers["other"], status="credited", since=date(2026, 1, 1))


def test_numbers_stay_gap_free_when_issued_from_several_threads(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    errors: list[BaseException] = []

    def issue(n: int) -> None:
        try:
            postroom.billing.issue_invoice(
                numbers["mine"],
                [LineItem("Ink", 1, Money.of("1", "USD"))],
                kind="supplies",
                reference=f"t{n}",
            )
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=issue, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    got = sorted(i.number for i in postroom.billing.list(numbers["mine"]))
    assert got == [f"INV-2026-{n:06d}" for n in range(1, 9)]
