"""``/billing/direct-debit``: an owner signs a SEPA mandate (euro account) or an ACH
authorization (US-dollar account) in the portal, keeps its PDF and revokes it.

A ``user`` of the account gets 404 on every route, another account's mandate answers
404, a bad IBAN or routing number is a field error with nothing stored, a mandate
needs the box ticked, and a Canadian account is told that direct debit is not offered.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader

from postroom.core.app import Postroom
from postroom.core.config import Config

PASSWORD = "quiet harbour lantern 8"
CREDITOR_ID = "FR72ZZZ123456"
IBAN = "FR14 2004 1010 0505 0001 3M02 606"
ROUTING = "111000025"


@pytest.fixture
def config(database_url: str, data_dir: Path) -> Config:
    return Config.load(
        {},
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret",
        billing_creditor_id=CREDITOR_ID,
        billing_seller_name="Postroom SAS",
    )


def _person(postroom: Postroom, number: str, email: str, role: str, language: str) -> None:
    link = postroom.identity.invite(number, email, role)
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+33142000000",
        language=language,
    )


def _account(postroom: Postroom, name: str, country: str, currency: str, owner: str) -> str:
    number = postroom.accounts.create(name, country, currency).number
    _person(postroom, number, owner, "owner", "fr" if country == "FR" else "en")
    return number


def sign_in(client: FlaskClient, postroom: Postroom, email: str) -> None:
    session = postroom.identity.sign_in(email, PASSWORD, client="127.0.0.1")
    client.set_cookie("postroom_session", session.token)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def sepa_form(page: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf(page),
        "account_holder": "Café Étoile SARL",
        "iban": IBAN,
        "bic": "",
        "consent": "y",
        "auto_debit": "y",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def test_an_owner_signs_a_sepa_mandate_with_automatic_debit_and_revokes_it(
    client: FlaskClient, postroom: Postroom
) -> None:
    number = _account(postroom, "Café Étoile", "FR", "EUR", "olive@etoile.example")
    sign_in(client, postroom, "olive@etoile.example")
    page = client.get("/billing/direct-debit", headers={"Accept-Language": "fr"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "vous autorisez (A) Postroom SAS" in text  # the mandate's wording, in French
    assert CREDITOR_ID in text

    signed = client.post("/billing/direct-debit", data=sepa_form(text))
    assert signed.status_code == 303
    (mandate,) = postroom.billing.mandates(number)
    assert mandate.active
    assert len(mandate.reference) <= 35
    assert mandate.account == "FR14 **** **** **** **** ***2 606"
    assert mandate.bank == "PSSTFRPP"  # derived from the IBAN
    assert mandate.signed_by == "olive@etoile.example"
    assert mandate.creditor_id == CREDITOR_ID
    instrument = postroom.funding.instrument(number, mandate.instrument_id)
    assert instrument.source == "sepa-debit"
    assert instrument.details["mandate_reference"] == mandate.reference
    assert postroom.billing.profile(number).auto_debit_instrument == instrument.id

    listed = client.get("/billing/direct-debit").get_data(as_text=True)
    assert mandate.reference in listed
    assert "2004 1010 0505 0001" not in listed  # masked after signing
    pdf = client.get(f"/billing/direct-debit/{mandate.reference}.pdf")
    assert pdf.mimetype == "application/pdf"
    pdf_text = PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert mandate.reference in pdf_text
    assert CREDITOR_ID in pdf_text
    assert "8 weeks" in pdf_text

    mail = next(
        m.notification
        for m in postroom.outbox.messages(limit=20)
        if m.notification.kind == "billing.mandate-signed"
    )
    assert mail.language == "fr"  # a French account's, until its billing profile says otherwise
    assert mail.subject == f"Votre mandat de prélèvement SEPA {mandate.reference}"
    assert "au moins 5 jours avant" in mail.body
    assert "at least 5 days before" in mail.translations["en"].body

    revoked = client.post(
        f"/billing/direct-debit/{mandate.reference}/revoke", data={"csrf_token": csrf(listed)}
    )
    assert revoked.status_code == 303
    (after,) = postroom.billing.mandates(number)
    assert not after.active
    assert postroom.billing.profile(number).auto_debit_instrument is None
    assert postroom.funding.instrument(number, instrument.id).status == "removed"


def test_a_bad_iban_is_a_field_error_and_nothing_is_stored(
    client: FlaskClient, postroom: Postroom
) -> None:
    number = _account(postroom, "Café Étoile", "FR", "EUR", "olive@etoile.example")
    sign_in(client, postroom, "olive@etoile.example")
    page = client.get("/billing/direct-debit").get_data(as_text=True)
    bad = client.post(
        "/billing/direct-debit", data=sepa_form(page, iban="FR14 2004 1010 0505 0001 3M02 607")
    )
    assert bad.status_code == 422
    assert "This IBAN is not valid" in bad.get_data(as_text=True)
    unticked = client.post("/billing/direct-debit", data=sepa_form(page, consent=None))
    assert unticked.status_code == 422
    assert "Tick the box to sign the mandate." in unticked.get_data(as_text=True)
    assert postroom.billing.mandates(number) == []
    assert postroom.funding.instruments(number) == []
    assert postroom.billing.profile(number).auto_debit_instrument is None


def test_an_ach_authorization_masks_the_account_and_a_bad_routing_number_is_refused(
    client: FlaskClient, postroom: Postroom
) -> None:
    number = _account(postroom, "Acme Mailroom", "US", "USD", "owner@acme.example")
    sign_in(client, postroom, "owner@acme.example")
    page = client.get("/billing/direct-debit").get_data(as_text=True)
    assert "I authorize Postroom SAS to debit" in page
    form = {
        "csrf_token": csrf(page),
        "account_holder": "Acme Inc.",
        "routing_number": "111000026",  # check digit wrong
        "account_number": "000123456789",
        "account_type": "savings",
        "consent": "y",
    }
    bad = client.post("/billing/direct-debit", data=form)
    assert bad.status_code == 422
    assert "This routing number is not valid" in bad.get_data(as_text=True)
    assert postroom.funding.instruments(number) == []

    assert (
        client.post("/billing/direct-debit", data={**form, "routing_number": ROUTING}).status_code
        == 303
    )
    (mandate,) = postroom.billing.mandates(number)
    assert mandate.account == "****6789"
    assert mandate.bank == ROUTING
    assert mandate.account_type == "savings"
    assert postroom.billing.profile(number).auto_debit_instrument is None  # not asked
    listed = client.get("/billing/direct-debit").get_data(as_text=True)
    assert "****6789" in listed
    assert "000123456789" not in listed


def test_a_canadian_account_is_told_direct_debit_is_not_offered(
    client: FlaskClient, postroom: Postroom
) -> None:
    _account(postroom, "Maple Mail", "CA", "CAD", "owner@maple.example")
    sign_in(client, postroom, "owner@maple.example")
    page = client.get("/billing/direct-debit").get_data(as_text=True)
    assert "not offered" in page
    assert 'name="account_holder"' not in page
    refused = client.post(
        "/billing/direct-debit",
        data={"csrf_token": csrf(page), "account_holder": "Maple", "consent": "y"},
    )
    assert refused.status_code == 422


def test_a_user_and_another_account_are_refused(client: FlaskClient, postroom: Postroom) -> None:
    mine = _account(postroom, "Café Étoile", "FR", "EUR", "olive@etoile.example")
    _person(postroom, mine, "clerk@etoile.example", "user", "fr")
    _account(postroom, "Autre Courrier", "FR", "EUR", "owner@autre.example")
    sign_in(client, postroom, "olive@etoile.example")
    page = client.get("/billing/direct-debit").get_data(as_text=True)
    assert client.post("/billing/direct-debit", data=sepa_form(page)).status_code == 303
    (mandate,) = postroom.billing.mandates(mine)

    sign_in(client, postroom, "clerk@etoile.example")  # a user of the account
    assert client.get("/billing/direct-debit").status_code == 404
    assert client.get(f"/billing/direct-debit/{mandate.reference}.pdf").status_code == 404
    token = csrf(client.get("/billing").get_data(as_text=True))
    revoke = f"/billing/direct-debit/{mandate.reference}/revoke"
    assert client.post(revoke, data={"csrf_token": token}).status_code == 404
    signing = client.post("/billing/direct-debit", data={**sepa_form(page), "csrf_token": token})
    assert signing.status_code == 404
    assert len(postroom.billing.mandates(mine)) == 1

    sign_in(client, postroom, "owner@autre.example")  # another account's owner
    page = client.get("/billing/direct-debit").get_data(as_text=True)
    assert mandate.reference not in page
    assert client.get(f"/billing/direct-debit/{mandate.reference}.pdf").status_code == 404
    other = client.post(
        f"/billing/direct-debit/{mandate.reference}/revoke", data={"csrf_token": csrf(page)}
    )
    assert other.status_code == 404
    assert postroom.billing.mandates(mine)[0].active

    client.delete_cookie("postroom_session")
    assert client.get("/billing/direct-debit").status_code == 302  # to the sign-in
