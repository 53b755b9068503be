"""The billing emails to customers, in English and French: (subject, body) by language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from postroom.core.billing.document import invoice_pdf
from postroom.core.billing.mandate import PRE_NOTIFICATION_DAYS, DebitMandate, DebitScheme
from postroom.core.billing.mandate_document import mandate_pdf
from postroom.core.billing.model import Invoice
from postroom.core.billing.ports import CustomerMessages, Session
from postroom.core.money import Money
from postroom.core.ports import Attachment, Translation

Texts = dict[str, tuple[str, str]]


def write(
    outbox: CustomerMessages,
    uow: Session,
    customer_number: str,
    kind: str,
    texts: Texts,
    data: Mapping[str, str],
    language: str,
    attachments: Sequence[Attachment] = (),
) -> str:
    """Write the customer's email in the caller's transaction, in ``language`` with the
    other languages as translations (and ``attachments``); returns its id (delivered
    after the commit)."""
    subject, body = texts[language]
    return outbox.add_for_customer(
        uow.connection,
        customer_number,
        kind,
        subject,
        body,
        data,
        language=language,
        translations={
            other: Translation(subject=text[0], body=text[1])
            for other, text in texts.items()
            if other != language
        },
        attachments=attachments,
    )


def _amount(money: Money, language: str) -> str:
    return money.format("fr_FR" if language == "fr" else "en_US")


def pdf_attachment(invoice: Invoice, link: str) -> Attachment:
    """The invoice's PDF as a paperless email carries it."""
    return Attachment(f"{invoice.number}.pdf", "application/pdf", invoice_pdf(invoice, link))


def _lines(invoice: Invoice, language: str) -> str:
    """The invoice's lines in ``language``, one a line with its total (at most 20)."""
    shown = [
        f"- {line.quantity} x {line.describe(language)}: {_amount(line.total, language)}"
        for line in invoice.lines[:20]
    ]
    if len(invoice.lines) > 20:
        more = len(invoice.lines) - 20
        shown.append(f"- ... (+{more})")
    return "\n".join(shown)


def invoice_issued(invoice: Invoice, link: str) -> Texts:
    total = {lang: _amount(invoice.total, lang) for lang in ("en", "fr")}
    if invoice.is_credit_note:
        return {
            "en": (
                f"Credit note {invoice.number}",
                f"Credit note {invoice.number} of {total['en']} corrects invoice "
                f"{invoice.related_number}. It is in your account: {link}\n\n"
                f"{_lines(invoice, 'en')}",
            ),
            "fr": (
                f"Avoir {invoice.number}",
                f"L'avoir {invoice.number} de {total['fr']} corrige la facture "
                f"{invoice.related_number}. Il est dans votre compte : {link}\n\n"
                f"{_lines(invoice, 'fr')}",
            ),
        }
    return {
        "en": (
            f"Invoice {invoice.number}: {total['en']} due {invoice.due_on.isoformat()}",
            f"Invoice {invoice.number} of {total['en']} is due on "
            f"{invoice.due_on.isoformat()}. View, print or pay it: {link}\n\n"
            f"{_lines(invoice, 'en')}",
        ),
        "fr": (
            f"Facture {invoice.number} : {total['fr']} à payer le "
            f"{invoice.due_on.strftime('%d/%m/%Y')}",
            f"La facture {invoice.number} de {total['fr']} est à payer le "
            f"{invoice.due_on.strftime('%d/%m/%Y')}. Consultez-la, imprimez-la ou "
            f"payez-la : {link}\n\n{_lines(invoice, 'fr')}",
        ),
    }


def payment_returned(invoice: Invoice, reason: str, link: str) -> Texts:
    total = {lang: _amount(invoice.total, lang) for lang in ("en", "fr")}
    return {
        "en": (
            f"Invoice {invoice.number} is unpaid again",
            f"Your bank returned the payment of invoice {invoice.number} ({total['en']}): "
            f"{reason}. The invoice is open again; please pay it: {link}",
        ),
        "fr": (
            f"La facture {invoice.number} est de nouveau impayée",
            f"Votre banque a rejeté le paiement de la facture {invoice.number} "
            f"({total['fr']}) : {reason}. La facture est de nouveau à payer : {link}",
        ),
    }


def auto_debit_declined(invoice: Invoice, reason: str, link: str) -> Texts:
    total = {lang: _amount(invoice.total, lang) for lang in ("en", "fr")}
    return {
        "en": (
            f"Automatic debit of invoice {invoice.number} declined",
            f"The automatic debit of invoice {invoice.number} ({total['en']}) was "
            f"declined: {reason}. The invoice stays open; please pay it: {link}",
        ),
        "fr": (
            f"Prélèvement de la facture {invoice.number} refusé",
            f"Le prélèvement automatique de la facture {invoice.number} ({total['fr']}) "
            f"a été refusé : {reason}. La facture reste à payer : {link}",
        ),
    }


def mandate_attachment(mandate: DebitMandate) -> Attachment:
    """The signed mandate's PDF, in the customer's language, for their records."""
    return Attachment(f"mandate-{mandate.reference}.pdf", "application/pdf", mandate_pdf(mandate))


def mandate_signed(mandate: DebitMandate, link: str) -> Texts:
    """The confirmation of a new mandate, with the pre-notification rule."""
    days = PRE_NOTIFICATION_DAYS
    if mandate.scheme is DebitScheme.SEPA:
        en_name, fr_name = "SEPA Direct Debit mandate", "mandat de prélèvement SEPA"
    else:
        en_name, fr_name = "ACH debit authorization", "autorisation de prélèvement ACH"
    return {
        "en": (
            f"Your {en_name} {mandate.reference}",
            f"You signed the {en_name} {mandate.reference} on "
            f"{mandate.signed_on.isoformat()} for the account {mandate.account} "
            f"({mandate.account_holder}), in favour of {mandate.creditor_name}. Each debit's "
            f"amount and date are announced at least {days} days before it by the invoice. "
            f"The mandate is attached for your records; you can revoke it at any time: {link}",
        ),
        "fr": (
            f"Votre {fr_name} {mandate.reference}",
            f"Vous avez signé le {fr_name} {mandate.reference} le "
            f"{mandate.signed_on.strftime('%d/%m/%Y')} pour le compte {mandate.account} "
            f"({mandate.account_holder}), en faveur de {mandate.creditor_name}. Le montant et "
            f"la date de chaque prélèvement vous sont annoncés au moins {days} jours avant "
            f"par la facture. Le mandat est joint pour vos archives ; vous pouvez le révoquer "
            f"à tout moment : {link}",
        ),
    }


def mandate_revoked(mandate: DebitMandate, link: str) -> Texts:
    return {
        "en": (
            f"Direct debit mandate {mandate.reference} revoked",
            f"The mandate {mandate.reference} for the account {mandate.account} is revoked: "
            f"no invoice will be debited from it any more. Pay your invoices in your "
            f"account: {link}",
        ),
        "fr": (
            f"Mandat de prélèvement {mandate.reference} révoqué",
            f"Le mandat {mandate.reference} du compte {mandate.account} est révoqué : plus "
            f"aucune facture n'en sera prélevée. Payez vos factures dans votre espace "
            f"client : {link}",
        ),
    }
