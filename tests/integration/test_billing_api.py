"""Billing through /api/v1: the caller's invoices, their PDFs, paying them, the
statement as JSON and CSV, the billing profile; another account's invoice answers 404
and another account cannot pay an invoice or pay with another's instrument."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader

from postroom.core.app import Postroom
from postroom.core.billing.model import InvoiceStatus, LineItem
from postroom.core.money import Money

V = "/api/v1"
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
DECLINED = {**CARD, "number": "4000000000000002"}


def _customer(postroom: Postroom, name: str) -> tuple[str, dict[str, str]]:
    account = postroom.accounts.create(name, "FR", "EUR")
    token = postroom.accounts.create_api_key(account.number, "test").token
    return account.number, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def customer(postroom: Postroom) -> tuple[str, dict[str, str]]:
    return _customer(postroom, "Café Étoile")


@pytest.fixture
def rival(postroom: Postroom) -> tuple[str, dict[str, str]]:
    return _customer(postroom, "Rival")


def _invoice(postroom: Postroom, number: str, reference: str = "order:1") -> str:
    return postroom.billing.issue_invoice(
        number,
        [LineItem("Encre", 2, Money.of("25.00", "EUR"))],
        kind="supplies",
        reference=reference,
    ).number


def _card(client: FlaskClient, headers: dict[str, str], fields: dict[str, str]) -> str:
    response = client.post(
        f"{V}/vault/instruments", json={"source": "sandbox-card", "fields": fields}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def _error(response) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return response.status_code, response.get_json()["error"]["code"]


def test_the_routes_need_a_key(client):
    for path in (
        "/invoices",
        "/invoices/INV-2026-000001",
        "/billing/statement",
        "/billing/profile",
    ):
        assert client.get(V + path).status_code == 401


def test_a_customer_lists_reads_and_prints_its_invoices(client, postroom, customer):
    number, headers = customer
    invoice = _invoice(postroom, number)
    listed = client.get(f"{V}/invoices", headers=headers).get_json()
    assert [i["number"] for i in listed["items"]] == [invoice]
    assert listed["balance_due"] == {"amount": "60.00", "currency": "EUR"}  # TVA 20 %
    shown = client.get(f"{V}/invoices/{invoice}", headers=headers).get_json()
    assert shown["taxes"] == [
        {"name": "TVA", "percent": "20", "amount": {"amount": "10.00", "currency": "EUR"}}
    ]
    assert shown["customer"]["name"] == "Café Étoile"
    pdf = client.get(f"{V}/invoices/{invoice}/pdf", headers=headers)
    assert pdf.mimetype == "application/pdf"
    # a French account's documents are in French until its billing profile says otherwise
    assert "60,00 EUR" in PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert client.get(f"{V}/invoices?status=overdue", headers=headers).get_json()["items"] == []
    assert _error(client.get(f"{V}/invoices?status=lost", headers=headers)) == (
        422,
        "invalid_status",
    )
    assert _error(client.get(f"{V}/invoices?since=2026-13-01", headers=headers)) == (
        422,
        "invalid_period",
    )


def test_another_accounts_invoice_answers_404_on_every_route(client, postroom, customer, rival):
    number, _ = customer
    _, rival_headers = rival
    invoice = _invoice(postroom, number)
    rival_card = _card(client, rival_headers, CARD)
    for response in (
        client.get(f"{V}/invoices/{invoice}", headers=rival_headers),
        client.get(f"{V}/invoices/{invoice}/pdf", headers=rival_headers),
        client.post(
            f"{V}/invoices/{invoice}/payments",
            json={"id": "k1", "instrument_id": rival_card},
            headers=rival_headers,
        ),
    ):
        assert _error(response) == (404, "invoice_not_found")
    assert client.get(f"{V}/invoices", headers=rival_headers).get_json()["items"] == []
    assert postroom.billing.get(number, invoice).status is InvoiceStatus.OPEN
    assert postroom.funding.payments(number) == []


def test_paying_is_charged_once_and_with_the_callers_own_instrument_only(
    client, postroom, customer, rival
):
    number, headers = customer
    _, rival_headers = rival
    invoice = _invoice(postroom, number)
    rival_card = _card(client, rival_headers, CARD)
    # the wrong actor: my invoice with another account's instrument
    refused = client.post(
        f"{V}/invoices/{invoice}/payments",
        json={"id": "k0", "instrument_id": rival_card},
        headers=headers,
    )
    assert _error(refused) == (404, "instrument_not_found")
    assert postroom.funding.payments(postroom.accounts.get(rival[0]).number) == []
    declined = _card(client, headers, DECLINED)
    response = client.post(
        f"{V}/invoices/{invoice}/payments",
        json={"id": "k1", "instrument_id": declined},
        headers=headers,
    )
    assert _error(response) == (402, "card_declined")
    assert client.get(f"{V}/invoices/{invoice}", headers=headers).get_json()["status"] == "open"
    card = _card(client, headers, CARD)
    first = client.post(
        f"{V}/invoices/{invoice}/payments",
        json={"id": "k2", "instrument_id": card},
        headers=headers,
    )
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "paid"
    again = client.post(
        f"{V}/invoices/{invoice}/payments",
        json={"id": "k2", "instrument_id": card},
        headers=headers,
    )
    assert again.get_json()["payment_id"] == first.get_json()["payment_id"]
    other_key = client.post(
        f"{V}/invoices/{invoice}/payments",
        json={"id": "k3", "instrument_id": card},
        headers=headers,
    )
    assert _error(other_key) == (409, "invoice_not_payable")
    settled = [p for p in postroom.funding.payments(number) if p.status.value == "settled"]
    assert len(settled) == 1
    assert postroom.ledger.verify().ok
    bad = client.post(
        f"{V}/invoices/{invoice}/payments", json={"id": "", "instrument_id": card}, headers=headers
    )
    assert bad.status_code == 422


def test_the_statement_as_json_and_csv_and_the_profile(client, postroom, customer):
    number, headers = customer
    invoice = _invoice(postroom, number)
    statement = client.get(f"{V}/billing/statement", headers=headers).get_json()
    assert statement["balance_due"] == {"amount": "60.00", "currency": "EUR"}
    text = client.get(f"{V}/billing/statement.csv", headers=headers).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "record"
    assert rows[1][:2] == ["invoice", invoice]
    assert rows[-2][0] == "balance_due"
    assert rows[-2][-3] == "60.00"
    changed = client.put(
        f"{V}/billing/profile", json={"language": "fr", "paperless": True}, headers=headers
    )
    assert changed.get_json()["paperless"] is True
    assert (
        _error(client.put(f"{V}/billing/profile", json={"language": "de"}, headers=headers))[0]
        == 422
    )
    assert _error(
        client.put(
            f"{V}/billing/profile",
            json={"auto_debit_instrument": "pi_00000000000000000000"},
            headers=headers,
        )
    ) == (404, "instrument_not_found")
