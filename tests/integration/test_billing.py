"""Invoices on the real store (SQLite, and PostgreSQL in the PostgreSQL pass): issued,
numbered without gaps, read back whole, corrected by credit note, account-scoped."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from postroom.core.app import Postroom
from postroom.core.billing.model import InvoiceStatus, LineItem
from postroom.core.errors import NotFound, ValidationError
from postroom.core.funding.sources import PaymentDeclined
from postroom.core.ledger.model import AccountKind
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


CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
DECLINED = {**CARD, "number": "4000000000009995"}
ACH = {
    "routing_number": "111000025",
    "account_number": "000123456789",
    "account_type": "checking",
    "account_holder": "Acme Inc.",
}


def supplies(postroom: Postroom, number: str, reference: str = "order:1"):  # type: ignore[no-untyped-def]
    return postroom.billing.issue_invoice(
        number, [LineItem("Ink", 2, Money.of("40.00", "USD"))], kind="supplies", reference=reference
    )


def test_paying_through_funding_charges_once_and_books_the_receipt(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    card = postroom.funding.add_instrument(numbers["mine"], "sandbox-card", CARD)
    invoice = supplies(postroom, numbers["mine"])
    paid = postroom.billing.pay(numbers["mine"], invoice.number, card.id, "click-1")
    assert paid.status is InvoiceStatus.PAID
    assert postroom.billing.pay(numbers["mine"], invoice.number, card.id, "click-1") == paid
    (payment,) = postroom.funding.payments(numbers["mine"])
    assert (payment.kind, payment.amount) == ("invoice", Money.of("83.20", "USD"))
    assert paid.payment_id == payment.id
    # the money is the vendor's: it went to the invoice receipts, not to postage
    receipts = postroom.ledger.system_account(AccountKind.INVOICE_RECEIPTS, "USD")
    assert receipts.balances.credits_posted == 83_200
    with pytest.raises(NotFound):
        postroom.ledger.balance(numbers["mine"])


def test_a_declined_card_leaves_the_invoice_open(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    card = postroom.funding.add_instrument(numbers["mine"], "sandbox-card", DECLINED)
    invoice = supplies(postroom, numbers["mine"])
    with pytest.raises(PaymentDeclined):
        postroom.billing.pay(numbers["mine"], invoice.number, card.id, "k")
    assert postroom.billing.get(numbers["mine"], invoice.number).status is InvoiceStatus.OPEN


def test_a_returned_ach_debit_opens_the_invoice_again(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    bank = postroom.funding.add_instrument(numbers["mine"], "ach-debit", ACH)
    postroom.billing.set_auto_debit(numbers["mine"], bank.id)
    invoice = supplies(postroom, numbers["mine"])
    assert postroom.billing.run_auto_debit(invoice.due_on) == 1
    assert postroom.billing.run_auto_debit(invoice.due_on) == 0
    paid = postroom.billing.get(numbers["mine"], invoice.number)
    assert paid.status is InvoiceStatus.PAID
    assert paid.payment_id is not None
    postroom.funding.settle(paid.payment_id)
    postroom.funding.record_return(paid.payment_id, "R01")
    assert postroom.billing.get(numbers["mine"], invoice.number).status is InvoiceStatus.OPEN
    kinds = [m.notification.kind for m in postroom.outbox.messages(limit=50)]
    assert "billing.payment-returned" in kinds
    assert postroom.ledger.verify().ok


def test_contracts_bill_themselves_once_per_period_on_the_worker(
    postroom: Postroom, numbers: dict[str, str], clock
) -> None:  # type: ignore[no-untyped-def]
    postroom.meters.register(numbers["mine"], product_code="PR-VPSD1", serial="PR-BILL-1")
    contract = postroom.contracts.add(
        numbers["mine"],
        "PR-BILL-1",
        kind="lease",
        start=date(2026, 1, 10),
        term_months=12,
        billing_period="monthly",
        amount=Money.of("49.90", "USD"),
        notice_days=30,
        auto_renew=False,
    )
    ran = postroom.jobs.run_now("billing.contracts")
    assert ran == 1
    assert postroom.billing.run_contracts() == 0
    (invoice,) = postroom.billing.list(numbers["mine"])
    assert invoice.reference == f"contract:{contract.number}:2026-02-10"
    assert invoice.kind.value == "lease"
    meter = postroom.meters.customer_meter(numbers["mine"], "PR-BILL-1")
    assert invoice.installation_number == meter.installation_number
    assert invoice.total == Money.of("51.90", "USD")
    # written by the driver (COPY, executemany): read back as issued
    assert (invoice.issued_on, invoice.due_on) == (date(2026, 3, 2), date(2026, 4, 1))
    assert invoice.created_at == clock.now()
    assert invoice.lines[0].taxes[0].amount == Money.of("2.00", "USD")
    # the line keeps its code: it reads in each reader's language
    assert invoice.lines[0].description.startswith("Lease of meter PR-BILL-1 (PR-VPSD1)")
    assert invoice.lines[0].describe("fr") == (
        f"Location-bail du compteur PR-BILL-1 (PR-VPSD1), contrat {contract.number}, "
        "du 10/02/2026 au 09/03/2026"
    )


def test_what_is_billed_already_is_found_by_customer_and_reference(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    """The billing run's question after losing a race: the same reference of another
    customer is not taken."""
    from postroom.core.billing.store import BillingStore

    for reference in ("contract:LS-1:2026-03-01", "contract:LS-2:2026-03-01"):
        postroom.billing.issue_invoice(
            numbers["mine"],
            [LineItem("Lease", 1, Money.of("10.00", "USD"))],
            kind="lease",
            reference=reference,
        )
    asked = [
        (numbers["mine"], "contract:LS-1:2026-03-01"),
        (numbers["mine"], "contract:LS-3:2026-03-01"),
        (numbers["other"], "contract:LS-2:2026-03-01"),
    ]
    taken = postroom.db.run(lambda uow: BillingStore(uow.connection).references_taken(asked))
    assert taken == {(numbers["mine"], "contract:LS-1:2026-03-01")}
