"""The billing use cases on in-memory fakes (no I/O): numbering, idempotent issue,
corrections by credit note, account scoping, and that a refused request writes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from billing_fakes import (
    FakeAccounts,
    FakeBilling,
    FakeContracts,
    FakeDatabase,
    FakeInstallationNumbers,
    FakeMessages,
    FakePayments,
    FakeStatements,
    account,
)

from postroom.core.billing.model import InvoiceStatus, LineItem, Party
from postroom.core.billing.service import BillingService
from postroom.core.billing.settings import BillingSettings
from postroom.core.billing.taxes import TaxTable
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.money import Money

MINE = "1000000009"
OTHER = "2000000008"
PARIS = "3000000007"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T09:30:00+00:00")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def messages(db: FakeDatabase) -> FakeMessages:
    return FakeMessages(db)


@pytest.fixture
def payments(clock: FrozenClock) -> FakePayments:
    return FakePayments(clock)


@pytest.fixture
def contracts() -> FakeContracts:
    return FakeContracts()


@pytest.fixture
def statements() -> FakeStatements:
    return FakeStatements()


@pytest.fixture
def billing(
    db: FakeDatabase,
    clock: FrozenClock,
    messages: FakeMessages,
    payments: FakePayments,
    contracts: FakeContracts,
    statements: FakeStatements,
) -> BillingService:
    accounts = FakeAccounts()
    accounts.add(account(MINE))
    accounts.add(account(OTHER))
    accounts.add(account(PARIS, "FR", "EUR"))
    service = BillingService(
        db,
        clock,
        BillingSettings(Party("Seller SA", ("1 Main St",)), TaxTable.default()),
        accounts=accounts,
        messages=messages,
        payments=payments,
        contracts=contracts,
        meters=FakeInstallationNumbers({"PR-1": "12345678903"}),
        statements=statements,
        repository=lambda session: FakeBilling(db),
    )
    service.set_profile(MINE, region="NY")
    service.set_profile(OTHER, region="CA")
    return service


def usd(text: str) -> Money:
    return Money.of(text, "USD")


def test_invoices_are_numbered_without_gaps_per_year(billing, clock):
    first = billing.issue_invoice(
        MINE, [LineItem("Ink", 2, usd("40.00"))], kind="supplies", reference="o1"
    )
    second = billing.issue_invoice(
        OTHER, [LineItem("Ink", 1, usd("40.00"))], kind="supplies", reference="o1"
    )
    assert (first.number, second.number) == ("INV-2026-000001", "INV-2026-000002")
    clock.set(clock.now().replace(year=2027, month=1, day=4))
    assert (
        billing.issue_invoice(
            MINE, [LineItem("Ink", 1, usd("1.00"))], kind="supplies", reference="o2"
        ).number
        == "INV-2027-000001"
    )


def test_an_invoice_carries_the_taxes_of_the_customer_region_and_its_dates(billing):
    invoice = billing.issue_invoice(
        MINE,
        [LineItem("Lease", 1, usd("99.99"))],
        kind="lease",
        reference="c1",
        installation_number="12345678903",
    )
    assert invoice.net == usd("99.99")
    assert invoice.tax == usd("4.00")  # New York 4 %
    assert invoice.total == usd("103.99")
    assert (invoice.issued_on, invoice.due_on) == (date(2026, 3, 2), date(2026, 4, 1))
    assert invoice.installation_number == "12345678903"
    assert invoice.status is InvoiceStatus.OPEN
    paris = billing.issue_invoice(
        PARIS, [LineItem("Encre", 1, Money.of("10.00", "EUR"))], kind="supplies", reference="o"
    )
    assert [(t.name, t.amount) for t in paris.tax_summary()] == [("TVA", Money.of("2.00", "EUR"))]


def test_the_same_reference_answers_the_first_invoice_and_takes_no_number(billing, db):
    lines = [LineItem("Ink", 1, usd("40.00"))]
    first = billing.issue_invoice(MINE, lines, kind="supplies", reference="order:1")
    again = billing.issue_invoice(MINE, lines, kind="supplies", reference="order:1")
    assert again == first
    assert db.state.sequences == {("INV", 2026): 1}


def test_a_refused_invoice_writes_nothing_and_leaves_no_gap(billing, db):
    with pytest.raises(ValidationError) as refused:
        billing.issue_invoice(
            MINE, [LineItem("Ink", 0, usd("1.00"))], kind="supplies", reference="x"
        )
    assert refused.value.code == "invalid_quantity"
    with pytest.raises(ValidationError):
        billing.issue_invoice(MINE, [], kind="supplies", reference="x")
    with pytest.raises(ValidationError) as kind:
        billing.issue_invoice(
            MINE, [LineItem("Ink", 1, usd("1.00"))], kind="credit_note", reference="x"
        )
    assert kind.value.code == "invalid_kind"
    assert db.state.invoices == {}
    assert db.state.sequences == {}
    ok = billing.issue_invoice(
        MINE, [LineItem("Ink", 1, usd("1.00"))], kind="supplies", reference="x"
    )
    assert ok.number == "INV-2026-000001"


def test_a_us_customer_without_a_state_cannot_be_invoiced(billing, db):
    billing._accounts.add(account("4000000006"))
    with pytest.raises(ValidationError) as refused:
        billing.issue_invoice(
            "4000000006", [LineItem("Ink", 1, usd("1.00"))], kind="supplies", reference="x"
        )
    assert refused.value.code == "billing_region_required"
    assert db.state.sequences == {}


def test_another_accounts_invoice_is_not_found(billing):
    invoice = billing.issue_invoice(
        MINE, [LineItem("Ink", 1, usd("1.00"))], kind="supplies", reference="x"
    )
    with pytest.raises(NotFound) as hidden:
        billing.get(OTHER, invoice.number)
    assert hidden.value.code == "invoice_not_found"
    for bad in ("INV-2026-000099", "nonsense", ""):
        with pytest.raises(NotFound):
            billing.get(MINE, bad)
    assert billing.get(MINE, invoice.number.lower()) == invoice


def test_a_correction_is_a_credit_note_and_the_invoice_never_changes(billing, db):
    invoice = billing.issue_invoice(
        MINE, [LineItem("Ink", 3, usd("40.00"))], kind="supplies", reference="x"
    )
    note = billing.credit(MINE, invoice.number, "wrong quantity")
    assert note.number == "CRN-2026-000001"
    assert note.total == -invoice.total
    assert note.related_number == invoice.number
    credited = billing.get(MINE, invoice.number)
    assert credited.status is InvoiceStatus.CREDITED
    assert credited.related_number == note.number
    assert credited.lines == invoice.lines
    assert credited.total == invoice.total
    with pytest.raises(Conflict) as twice:
        billing.credit(MINE, invoice.number, "again")
    assert twice.value.code == "invoice_not_creditable"
    with pytest.raises(NotFound):
        billing.credit(OTHER, invoice.number, "not mine")
    assert db.state.sequences[("CRN", 2026)] == 1


def test_an_open_invoice_can_be_cancelled_once(billing):
    invoice = billing.issue_invoice(
        MINE, [LineItem("Ink", 1, usd("1.00"))], kind="supplies", reference="x"
    )
    with pytest.raises(ValidationError):
        billing.cancel(MINE, invoice.number, "   ")
    assert billing.cancel(MINE, invoice.number, "issued twice").status is InvoiceStatus.CANCELLED
    with pytest.raises(Conflict):
        billing.cancel(MINE, invoice.number, "issued twice")


def test_overdue_is_open_past_the_due_date_and_the_list_filters_by_it(billing, clock):
    old = billing.issue_invoice(
        MINE, [LineItem("Ink", 1, usd("10.00"))], kind="supplies", reference="a", due_days=10
    )
    clock.advance(timedelta(days=20))
    new = billing.issue_invoice(
        MINE, [LineItem("Ink", 1, usd("5.00"))], kind="supplies", reference="b"
    )
    assert [i.number for i in billing.list(MINE, status="overdue")] == [old.number]
    assert [i.number for i in billing.list(MINE, status="open")] == [new.number]
    assert [i.number for i in billing.list(MINE)] == [new.number, old.number]
    assert [i.number for i in billing.list(MINE, since=date(2026, 3, 10))] == [new.number]
    statement = billing.account_statement(MINE)
    assert statement.balance_due == usd("15.60")  # with New York's 4 %
    assert statement.overdue == usd("10.40")
    with pytest.raises(ValidationError):
        billing.list(MINE, status="lost")
    assert billing.list(MINE, since=date(2026, 4, 1), until=date(2026, 3, 1)) == []  # empty


def test_paperless_customers_get_an_email_per_invoice_in_their_language(billing, db, messages):
    billing.issue_invoice(MINE, [LineItem("Ink", 1, usd("1.00"))], kind="supplies", reference="a")
    assert db.state.messages == []
    billing.set_profile(MINE, paperless=True, language="fr")
    invoice = billing.issue_invoice(
        MINE, [LineItem("Ink", 1, usd("1.00"))], kind="supplies", reference="b"
    )
    (sent,) = db.state.messages
    assert sent["language"] == "fr"
    assert invoice.number in sent["subject"]
    assert sent["subject"].startswith("Facture")
    assert "en" in sent["translations"]
    assert messages.delivered == [sent["id"]]
    (pdf,) = sent["attachments"]
    assert (pdf.filename, pdf.content_type) == (f"{invoice.number}.pdf", "application/pdf")
    assert pdf.content.startswith(b"%PDF")


def test_a_profile_refuses_an_unknown_region_or_language(billing):
    for changes, code in (
        ({"region": "ZZ"}, "unknown_region"),  # a Conflict: not of the account's country
        ({"region": "New York"}, "invalid_region"),
        ({"language": "de"}, "invalid_language"),
        ({"paperless": "yes"}, "invalid_paperless"),
    ):
        with pytest.raises((ValidationError, Conflict)) as refused:
            billing.set_profile(MINE, **changes)
        assert refused.value.code == code
    assert billing.profile(MINE).region == "NY"


def test_an_issuer_invoices_inside_its_own_unit_of_work(billing, db):
    lines = [LineItem("Ink", 1, usd("10.00"))]

    def rolled_back(session):  # the issuer's order failed after its invoice was written
        billing.issue_invoice_in(session, MINE, lines, kind="supplies", reference="order:9")

    db.run(rolled_back)
    assert db.state.invoices == {}
    assert db.state.sequences == {}

    def committed(session):
        invoice = billing.issue_invoice_in(
            session, MINE, lines, kind="supplies", reference="order:9"
        )
        session.commit()
        return invoice

    assert db.run(committed).number == "INV-2026-000001"
    assert billing.get(MINE, "INV-2026-000001").reference == "order:9"


def test_a_sale_paid_by_card_is_invoiced_paid_with_its_payment_once(billing, db):
    lines = [LineItem("INK-1 Ink", 2, usd("10.00"))]

    def sold(paid: Money):
        def work(session):
            invoice = billing.issue_paid_invoice_in(
                session,
                MINE,
                lines,
                kind="supplies",
                reference="order:SO-1",
                payment_id="pay_1",
                paid=paid,
            )
            session.commit()
            return invoice

        return work

    with pytest.raises(Conflict) as caught:  # New York's 4 % is 0.80: 20.00 was not it
        db.run(sold(usd("20.00")))
    assert caught.value.code == "receipt_total_mismatch"
    assert db.state.invoices == {}
    assert db.state.sequences == {}
    invoice = db.run(sold(usd("20.80")))
    assert (invoice.status, invoice.payment_id, invoice.due_on) == (
        InvoiceStatus.PAID,
        "pay_1",
        invoice.issued_on,
    )
    assert db.run(sold(usd("20.80"))).number == invoice.number  # the same sale again
    (payment,) = billing.payments(MINE)
    assert (payment.invoice_number, payment.via, payment.amount) == (
        invoice.number,
        "checkout",
        usd("20.80"),
    )
    assert billing.account_statement(MINE).balance_due == usd("0")
