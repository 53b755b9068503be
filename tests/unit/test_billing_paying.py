"""Paying invoices, automatic debit, returns, and the worker's billing runs on
in-memory fakes (no I/O, a frozen clock)."""

# The fixtures are test_billing_use_cases' (imported): tests name them as arguments.
# ruff: noqa: F811

from __future__ import annotations

from datetime import date, datetime, timedelta

import attrs
import pytest
from test_billing_use_cases import (  # the same fakes and service
    MINE,
    OTHER,
    billing,  # noqa: F401
    clock,  # noqa: F401
    contracts,  # noqa: F401
    db,  # noqa: F401
    messages,  # noqa: F401
    payments,  # noqa: F401
    statements,  # noqa: F401
    usd,
)

from postroom.core.billing.model import InvoiceStatus, LineItem
from postroom.core.contracts.model import BillingPeriod, Contract, ContractKind, Terms
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.funding.model import Statement
from postroom.core.funding.sources import PaymentDeclined
from postroom.core.money import Money
from postroom.core.ports import PaymentStatus


def invoice_of(billing, number=MINE, reference="o1", amount="100.00"):
    return billing.issue_invoice(
        number, [LineItem("Ink", 1, usd(amount))], kind="supplies", reference=reference
    )


def test_paying_charges_once_however_often_it_is_clicked(billing, payments, db):
    card = payments.add_instrument(MINE, "sandbox-card")
    invoice = invoice_of(billing)
    paid = billing.pay(MINE, invoice.number, card.id, "click-1")
    assert paid.status is InvoiceStatus.PAID
    assert paid.payment_id == payments.charges[0].id
    assert billing.pay(MINE, invoice.number, card.id, "click-1") == paid  # the double click
    assert len(payments.charges) == 1
    assert payments.charges[0].amount == usd("104.00")  # with New York's 4 %
    with pytest.raises(Conflict) as again:
        billing.pay(MINE, invoice.number, card.id, "click-2")
    assert again.value.code == "invoice_not_payable"
    assert len(payments.charges) == 1
    (attempt,) = billing.payments(MINE)
    assert (attempt.status, attempt.via) == ("settled", "portal")


def test_a_declined_payment_leaves_the_invoice_open_and_another_card_pays_it(billing, payments):
    bad = payments.add_instrument(MINE, "sandbox-card")
    payments.declining.add(bad.id)
    good = payments.add_instrument(MINE, "sandbox-card")
    invoice = invoice_of(billing)
    with pytest.raises(PaymentDeclined):
        billing.pay(MINE, invoice.number, bad.id, "k1")
    assert billing.get(MINE, invoice.number).status is InvoiceStatus.OPEN
    with pytest.raises(PaymentDeclined):  # the same key answers the same refusal
        billing.pay(MINE, invoice.number, bad.id, "k1")
    assert billing.pay(MINE, invoice.number, good.id, "k2").status is InvoiceStatus.PAID
    assert [a.status for a in billing.payments(MINE)] == ["settled", "failed"]


def test_another_account_cannot_pay_or_see_the_invoice(billing, payments):
    theirs = payments.add_instrument(OTHER, "sandbox-card")
    invoice = invoice_of(billing)
    with pytest.raises(NotFound) as hidden:
        billing.pay(OTHER, invoice.number, theirs.id, "k")
    assert hidden.value.code == "invoice_not_found"
    mine = payments.add_instrument(MINE, "sandbox-card")
    with pytest.raises(NotFound):  # their instrument on my invoice
        billing.pay(MINE, invoice.number, theirs.id, "k")
    assert payments.charges == []
    assert billing.pay(MINE, invoice.number, mine.id, "k").status is InvoiceStatus.PAID


def test_a_bad_key_or_a_credit_note_is_refused(billing, payments):
    card = payments.add_instrument(MINE, "sandbox-card")
    invoice = invoice_of(billing)
    with pytest.raises(ValidationError):
        billing.pay(MINE, invoice.number, card.id, "")
    note = billing.credit(MINE, invoice.number, "wrong")
    with pytest.raises(Conflict):
        billing.pay(MINE, note.number, card.id, "k")
    with pytest.raises(Conflict):
        billing.pay(MINE, invoice.number, card.id, "k")
    assert payments.charges == []


def test_a_returned_debit_opens_the_invoice_again_and_tells_the_customer(billing, payments, db):
    debit = payments.add_instrument(MINE, "ach-debit")
    invoice = invoice_of(billing)
    paid = billing.pay(MINE, invoice.number, debit.id, "k")
    assert paid.status is InvoiceStatus.PAID  # a pending debit pays it until returned
    returned = attrs.evolve(
        payments.charges[0],
        status=PaymentStatus.RETURNED,
        return_reason="R01",
        failure_message="insufficient funds",
    )
    assert billing.payment_changed(returned).status is InvoiceStatus.OPEN
    assert billing.payment_changed(returned).status is InvoiceStatus.OPEN  # once
    told = [m for m in db.state.messages if m["kind"] == "billing.payment-returned"]
    assert len(told) == 1
    assert invoice.number in told[0]["subject"]


def test_automatic_debit_takes_a_bank_debit_and_debits_once_on_the_due_date(
    billing, payments, clock
):
    card = payments.add_instrument(MINE, "sandbox-card")
    with pytest.raises(ValidationError) as refused:
        billing.set_auto_debit(MINE, card.id)
    assert refused.value.code == "invalid_instrument"
    with pytest.raises(NotFound):
        billing.set_auto_debit(MINE, payments.add_instrument(OTHER, "ach-debit").id)
    debit = payments.add_instrument(MINE, "ach-debit")
    billing.set_auto_debit(MINE, debit.id)
    invoice = invoice_of(billing)
    assert billing.run_auto_debit() == 0  # not due yet
    clock.set(
        datetime.combine(invoice.due_on, datetime.min.time()).replace(tzinfo=clock.now().tzinfo)
    )
    assert billing.run_auto_debit() == 1
    assert billing.run_auto_debit() == 0
    assert len(payments.charges) == 1
    assert billing.get(MINE, invoice.number).status is InvoiceStatus.PAID
    assert billing.payments(MINE)[0].via == "auto_debit"


def test_automatic_debit_waits_until_the_invoice_announced_it_five_days_before(
    billing, payments, clock
):
    billing.set_auto_debit(MINE, payments.add_instrument(MINE, "ach-debit").id)
    invoice = billing.issue_invoice(
        MINE, [LineItem("Ink", 1, usd("10.00"))], kind="supplies", reference="o9", due_days=1
    )
    clock.advance(timedelta(days=4))  # due 3 days ago, announced 4 days ago
    assert billing.run_auto_debit() == 0
    clock.advance(timedelta(days=1))
    assert billing.run_auto_debit() == 1
    assert billing.get(MINE, invoice.number).status is InvoiceStatus.PAID


def test_a_declined_automatic_debit_is_not_retried_and_the_customer_is_told(
    billing, payments, clock, db
):
    debit = payments.add_instrument(MINE, "sepa-debit")
    payments.declining.add(debit.id)
    billing.set_auto_debit(MINE, debit.id)
    invoice = invoice_of(billing)
    clock.advance(timedelta(days=31))
    assert billing.run_auto_debit() == 0
    assert billing.run_auto_debit() == 0
    assert billing.get(MINE, invoice.number).status_on(billing.today()) is InvoiceStatus.OVERDUE
    assert [m["kind"] for m in db.state.messages] == ["billing.auto-debit-declined"]


def lease(number: str = "LS-2026-000001", **changes) -> Contract:
    values = {
        "id": 1,
        "number": number,
        "customer_number": MINE,
        "serial": "PR-1",
        "product_code": "PR-VPSD1",
        "kind": ContractKind.LEASE,
        "start": date(2026, 1, 15),
        "term_months": 12,
        "terms": Terms(BillingPeriod.MONTHLY, usd("49.90"), 30),
        "auto_renew": True,
        "created_at": datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
        **changes,
    }
    return Contract(**values)


def test_contracts_bill_themselves_once_per_period(billing, contracts, clock):
    contracts.contracts += [
        lease(),
        lease(
            "MT-2026-000002",
            id=2,
            kind=ContractKind.MAINTENANCE,
            terms=Terms(BillingPeriod.QUARTERLY, usd("30.00"), 30),
        ),
    ]
    assert billing.run_contracts() == 2  # 2026-03-02
    assert billing.run_contracts() == 0
    (leased, maintenance) = sorted(billing.list(MINE), key=lambda i: i.kind.value)
    assert leased.lines[0].description == (
        "Lease of meter PR-1 (PR-VPSD1), contract LS-2026-000001, 2026-02-15 to 2026-03-14"
    )
    assert leased.installation_number == "12345678903"
    assert leased.total == usd("51.90")  # 49.90 + 4 %
    assert maintenance.reference == "contract:MT-2026-000002:2026-01-15"
    clock.advance(timedelta(days=14))  # 2026-03-16: the lease's next month
    assert billing.run_contracts() == 1
    assert billing.list(MINE)[0].number == "INV-2026-000003"


def test_a_paperless_customer_gets_each_contract_invoice_by_email_in_french(billing, contracts, db):
    billing.set_profile(MINE, paperless=True, language="fr")
    contracts.contracts.append(lease())
    assert billing.run_contracts() == 1
    (invoice,) = billing.list(MINE)
    assert invoice.lines[0].description == (
        "Location-bail du compteur PR-1 (PR-VPSD1), contrat LS-2026-000001, "
        "du 15/02/2026 au 14/03/2026"
    )
    (sent,) = db.state.messages
    assert sent["subject"].startswith(f"Facture {invoice.number}")
    (pdf,) = sent["attachments"]
    assert pdf.filename == f"{invoice.number}.pdf"


def test_contracts_of_a_customer_whose_profile_lacks_a_region_wait_and_others_go(
    billing, contracts
):
    billing._accounts.add(attrs.evolve(billing._accounts.get(MINE), number="4000000006"))
    contracts.contracts += [lease(), lease("LS-2026-000009", id=9, customer_number="4000000006")]
    assert billing.run_contracts() == 1
    assert billing.list("4000000006") == []


def test_a_credit_line_statement_becomes_an_invoice_due_on_its_date(billing, statements, payments):
    statements.statements.append(
        Statement(
            MINE,
            "2026-02",
            "USD",
            0,
            250_000,
            50_000,
            200_000,
            25_000,
            date(2026, 3, 21),
            1_000_000,
            datetime.fromisoformat("2026-03-01T01:15:00+00:00"),
        )
    )
    statements.statements.append(
        Statement(
            OTHER,
            "2026-02",
            "USD",
            0,
            0,
            0,
            0,
            0,
            date(2026, 3, 21),
            1_000_000,
            datetime.fromisoformat("2026-03-01T01:15:00+00:00"),
        )
    )
    assert billing.run_credit_statements() == 1
    assert billing.run_credit_statements() == 0
    (invoice,) = billing.list(MINE)
    assert (invoice.kind.value, invoice.total, invoice.due_on) == (
        "credit_statement",
        usd("200.00"),
        date(2026, 3, 21),
    )
    assert invoice.tax == Money.zero("USD")  # postage is not taxed
    card = payments.add_instrument(MINE, "sandbox-card")
    billing.pay(MINE, invoice.number, card.id, "k")
    assert payments.charges[0].kind == "credit_payment"  # it pays down the credit line
