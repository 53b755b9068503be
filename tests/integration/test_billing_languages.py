"""Invoice lines read in the customer's language: on the portal's page and print view
(the visitor's language), in the PDF, the API and the email (the invoice's language),
while the issued invoice's stored lines never change."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from pypdf import PdfReader

from postroom.core.app import Postroom
from postroom.core.billing.model import LineItem, LineText
from postroom.core.money import Money

PASSWORD = "quiet harbour lantern 8"
INK = LineText.of(
    "catalogue", sku="PR-INK-1", name_en="Red ink cartridge", name_fr="Cartouche d'encre rouge"
)


def test_a_french_customer_reads_its_lines_in_french_everywhere(
    client: FlaskClient, postroom: Postroom
) -> None:
    number = postroom.accounts.create("Café Étoile", "FR", "EUR").number
    link = postroom.identity.invite(number, "olive@etoile.example", "owner")
    postroom.identity.accept_invitation(
        link.token,
        name="Olive",
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+33142000000",
        language="fr",
    )
    postroom.billing.set_profile(number, paperless=True)  # the language stays France's
    invoice = postroom.billing.issue_invoice(
        number,
        [
            LineItem("PR-INK-1 Red ink cartridge", 2, Money.of("25.00", "EUR"), INK),
            LineItem("Handling", 1, Money.of("5.00", "EUR")),  # free text: as given
        ],
        kind="supplies",
        reference="order:SO-1",
    )
    assert invoice.language == "fr"
    stored = postroom.billing.get(number, invoice.number)
    assert stored.lines[0].description == "PR-INK-1 Red ink cartridge"  # never rewritten

    session = postroom.identity.sign_in("olive@etoile.example", PASSWORD, client="127.0.0.1")
    client.set_cookie("postroom_session", session.token)
    page = f"/billing/invoices/{invoice.number}"
    french = client.get(page, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "PR-INK-1 Cartouche d&#39;encre rouge" in french
    assert "Handling" in french
    assert "TVA 20 %" in french  # not Decimal's "2E+1"
    english = client.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "PR-INK-1 Red ink cartridge" in english
    printed = client.get(f"{page}/print", headers={"Accept-Language": "fr"})
    assert "Cartouche d&#39;encre rouge" in printed.get_data(as_text=True)

    pdf = client.get(f"{page}/pdf")
    text = PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert "PR-INK-1 Cartouche d'encre rouge" in text
    assert "Red ink" not in text

    mail = next(
        m.notification
        for m in postroom.outbox.messages(limit=20)
        if m.notification.kind == "billing.invoice-issued"
    )
    assert mail.language == "fr"
    assert "- 2 x PR-INK-1 Cartouche d'encre rouge" in mail.body
    assert "- 2 x PR-INK-1 Red ink cartridge" in mail.translations["en"].body

    note = postroom.billing.credit(number, invoice.number, "wrong colour")
    assert note.lines[0].describe("fr") == "PR-INK-1 Cartouche d'encre rouge"
