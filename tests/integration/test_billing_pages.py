"""``/billing``: a customer's account status, invoices, print view, PDF, paying and
settings behind the portal's sign-in.

Another account's invoice answers 404 on every route; a ``user`` reads but may not pay
or change settings (404); a visitor without a session goes to the sign-in; a form
without its CSRF token is refused; a double-submitted payment form is charged once.
"""

from __future__ import annotations

import io
import re

import attrs
import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from werkzeug.test import TestResponse

from postroom.core.app import Postroom
from postroom.core.billing.model import InvoiceStatus, LineItem
from postroom.core.money import Money

PASSWORD = "quiet harbour lantern 8"
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
DECLINED = {**CARD, "number": "4000000000000002"}
ACH = {
    "routing_number": "111000025",
    "account_number": "000123456789",
    "account_type": "checking",
    "account_holder": "Acme Inc.",
}


@attrs.frozen
class Portal:
    mine: str
    theirs: str
    invoice: str
    their_invoice: str
    card: str


def _person(postroom: Postroom, number: str, email: str, role: str) -> None:
    link = postroom.identity.invite(number, email, role)
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+12125550100",
        language="en",
    )


def _invoice(postroom: Postroom, number: str) -> str:
    return postroom.billing.issue_invoice(
        number,
        [LineItem("Ink cartridge", 2, Money.of("40.00", "USD"))],
        kind="supplies",
        reference="order:1",
        installation_number="12345678903",
    ).number


@pytest.fixture
def portal(postroom: Postroom) -> Portal:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    theirs = postroom.accounts.create("Other Mailroom", "US", "USD").number
    for number in (mine, theirs):
        postroom.billing.set_profile(number, region="NY")
    _person(postroom, mine, "owner@acme.example", "owner")
    _person(postroom, mine, "operator@acme.example", "user")
    _person(postroom, theirs, "owner@other.example", "owner")
    card = postroom.funding.add_instrument(mine, "sandbox-card", CARD).id
    return Portal(mine, theirs, _invoice(postroom, mine), _invoice(postroom, theirs), card)


def sign_in(client: FlaskClient, postroom: Postroom, email: str) -> None:
    session = postroom.identity.sign_in(email, PASSWORD, client="127.0.0.1")
    client.set_cookie("postroom_session", session.token)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def pay_form(client: FlaskClient, number: str, instrument: str) -> dict[str, str]:
    page = client.get(f"/billing/invoices/{number}").get_data(as_text=True)
    key = re.search(r'name="key"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="key"', page
    )
    assert key is not None
    return {"csrf_token": csrf(page), "key": key.group(1), "instrument": instrument}


def routes(number: str) -> list[str]:
    return [
        "/billing",
        f"/billing/invoices/{number}",
        f"/billing/invoices/{number}/print",
        f"/billing/invoices/{number}/pdf",
        "/billing/statement.csv",
    ]


def test_every_page_sends_a_visitor_without_a_session_to_the_sign_in(
    client: FlaskClient, portal: Portal
) -> None:
    for path in routes(portal.invoice):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/account/sign-in?next=")


def test_a_user_reads_the_account_status_invoice_print_view_and_pdf(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "operator@acme.example")
    page = client.get("/billing").get_data(as_text=True)
    assert portal.invoice in page
    assert "$83.20" in page  # 80.00 + New York's 4 %
    assert portal.their_invoice not in page
    detail = client.get(f"/billing/invoices/{portal.invoice}").get_data(as_text=True)
    assert "12345678903" in detail
    assert "Pay this invoice" not in detail  # a user reads, an owner pays
    printed = client.get(f"/billing/invoices/{portal.invoice}/print").get_data(as_text=True)
    assert "Sales tax 4 %" in printed
    pdf = client.get(f"/billing/invoices/{portal.invoice}/pdf")
    assert pdf.mimetype == "application/pdf"
    assert "83.20 USD" in PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    csv_text = client.get("/billing/statement.csv").get_data(as_text=True)
    assert portal.invoice in csv_text
    french = client.get("/billing", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Solde dû" in french


def test_another_accounts_invoice_answers_404_on_every_route(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    theirs = portal.their_invoice
    sign_in(client, postroom, "owner@acme.example")
    for path in routes(theirs)[1:4]:
        assert client.get(path).status_code == 404, path
    form = pay_form(client, portal.invoice, portal.card)
    response = client.post(f"/billing/invoices/{theirs}/pay", data=form)
    assert response.status_code == 404
    assert postroom.billing.get(portal.theirs, theirs).status is InvoiceStatus.OPEN
    assert postroom.funding.payments(portal.mine) == []


def test_a_user_may_not_pay_or_change_settings(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    form = pay_form(client, portal.invoice, portal.card)
    sign_in(client, postroom, "operator@acme.example")
    token = csrf(client.get("/billing").get_data(as_text=True))
    assert (
        client.post(
            f"/billing/invoices/{portal.invoice}/pay", data={**form, "csrf_token": token}
        ).status_code
        == 404
    )
    assert (
        client.post("/billing/settings", data={"csrf_token": token, "paperless": "y"}).status_code
        == 404
    )
    assert postroom.funding.payments(portal.mine) == []
    assert postroom.billing.profile(portal.mine).paperless is False


def test_an_owner_pays_once_however_often_the_form_is_sent(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    form = pay_form(client, portal.invoice, portal.card)
    first: TestResponse = client.post(f"/billing/invoices/{portal.invoice}/pay", data=form)
    assert first.status_code == 303
    second = client.post(f"/billing/invoices/{portal.invoice}/pay", data=form)  # double click
    assert second.status_code == 303
    page = client.get(f"/billing/invoices/{portal.invoice}").get_data(as_text=True)
    assert "is paid" in page
    assert postroom.billing.get(portal.mine, portal.invoice).status is InvoiceStatus.PAID
    assert len(postroom.funding.payments(portal.mine)) == 1


def test_a_declined_card_says_so_and_leaves_the_invoice_open(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    declined = postroom.funding.add_instrument(portal.mine, "sandbox-card", DECLINED).id
    sign_in(client, postroom, "owner@acme.example")
    form = pay_form(client, portal.invoice, declined)
    client.post(f"/billing/invoices/{portal.invoice}/pay", data=form)
    page = client.get(f"/billing/invoices/{portal.invoice}").get_data(as_text=True)
    assert "declined" in page
    assert postroom.billing.get(portal.mine, portal.invoice).status is InvoiceStatus.OPEN


def test_a_form_without_its_csrf_token_is_refused(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    form = pay_form(client, portal.invoice, portal.card)
    del form["csrf_token"]
    response = client.post(f"/billing/invoices/{portal.invoice}/pay", data=form)
    assert response.status_code == 400
    assert postroom.funding.payments(portal.mine) == []


def test_an_owner_turns_on_paperless_billing_and_automatic_debit(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    bank = postroom.funding.add_instrument(portal.mine, "ach-debit", ACH).id
    sign_in(client, postroom, "owner@acme.example")
    token = csrf(client.get("/billing").get_data(as_text=True))
    response = client.post(
        "/billing/settings", data={"csrf_token": token, "paperless": "y", "auto_debit": bank}
    )
    assert response.status_code == 303
    profile = postroom.billing.profile(portal.mine)
    assert (profile.paperless, profile.auto_debit_instrument) == (True, bank)
    # a card is not a bank debit: refused with a message, nothing changed
    client.post(
        "/billing/settings", data={"csrf_token": token, "paperless": "y", "auto_debit": portal.card}
    )
    assert postroom.billing.profile(portal.mine).auto_debit_instrument == bank


def test_the_dashboard_shows_what_the_account_owes(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "operator@acme.example")
    page = client.get("/dashboard").get_data(as_text=True)
    assert portal.invoice in page
    assert "$83.20" in page
    assert portal.their_invoice not in page
