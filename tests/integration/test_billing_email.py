"""Paperless billing for real: a new invoice's email goes through a real SMTP server on
loopback to the account's people, in their language, carrying the invoice's PDF."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from postroom.core.app import Postroom
from postroom.core.billing.model import LineItem
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.money import Money


def test_a_paperless_invoice_arrives_by_email_with_its_pdf(
    database_url: str, data_dir: Path, clock: FrozenClock, smtp_server: Any
) -> None:
    config = Config.load(
        {}, data_dir=data_dir, database_url=database_url, secret_key="test", **smtp_server.settings
    )
    with Postroom.open(config=config, clock=clock, immediate_jobs=True) as pr:
        number = pr.accounts.create("Café Étoile", "FR", "EUR").number
        link = pr.identity.invite(number, "olive@etoile.example", "owner")
        pr.identity.accept_invitation(
            link.token,
            name="Olive Owner",
            password="quiet harbour lantern 8",
            security_question="First mailroom?",
            security_answer="Dock 4",
            phone="+33142000000",
            language="fr",
        )
        pr.billing.set_profile(number, language="fr", paperless=True)
        invoice = pr.billing.issue_invoice(
            number,
            [LineItem("Encre", 2, Money.of("25.00", "EUR"))],
            kind="supplies",
            reference="o1",
        )
    mails: list[EmailMessage] = [m for m in smtp_server.messages if invoice.number in m["Subject"]]
    assert len(mails) == 1
    mail = mails[0]
    assert mail["Subject"].startswith("Facture")
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    text = PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()
    assert "FACTURE" in text
    assert "60,00 EUR" in text
