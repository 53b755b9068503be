"""The mandate's wording (SEPA Core mandate, ACH debit authorization) in English and
French, written for postroom, and the signed mandate as a PDF for the customer's records.

The SEPA wording carries what the EPC rulebook asks of a Core mandate: the two
authorisations (the creditor to send instructions, the bank to debit), the debtor's
right to a refund within eight weeks, and the pre-notification. The ACH wording is a
NACHA-style authorization: the account, the amounts and dates (each invoice's), how
to revoke it and the pre-notification. One text serves the portal page (before
signing), the PDF and the confirmation email.
"""

from __future__ import annotations

from postroom.core.billing.mandate import PRE_NOTIFICATION_DAYS, DebitMandate, DebitScheme


def mandate_text(
    scheme: DebitScheme, language: str, creditor: str, creditor_id: str = ""
) -> tuple[str, ...]:
    """The paragraphs the account holder consents to, in ``language`` (en or fr)."""
    days = PRE_NOTIFICATION_DAYS
    if scheme is DebitScheme.SEPA:
        if language == "fr":
            return (
                f"En signant ce mandat, vous autorisez (A) {creditor} (identifiant créancier "
                f"SEPA {creditor_id}) à envoyer des instructions à votre banque pour débiter "
                "votre compte, et (B) votre banque à débiter votre compte conformément aux "
                f"instructions de {creditor}.",
                "Vous bénéficiez du droit d'être remboursé par votre banque selon les "
                "conditions décrites dans la convention que vous avez passée avec elle. Une "
                "demande de remboursement doit être présentée dans les 8 semaines suivant la "
                "date de débit de votre compte pour un prélèvement autorisé. Vos droits sont "
                "expliqués dans un document que vous pouvez obtenir auprès de votre banque.",
                f"Le montant et la date de chaque prélèvement vous sont annoncés au moins "
                f"{days} jours avant par la facture (et son courriel si la facturation "
                "électronique est activée). Ce mandat est récurrent ; vous pouvez le révoquer "
                "à tout moment dans votre espace client.",
            )
        return (
            f"By signing this mandate, you authorise (A) {creditor} (SEPA creditor identifier "
            f"{creditor_id}) to send instructions to your bank to debit your account and (B) "
            f"your bank to debit your account in accordance with the instructions from "
            f"{creditor}.",
            "As part of your rights, you are entitled to a refund from your bank under the "
            "terms and conditions of your agreement with your bank. A refund must be claimed "
            "within 8 weeks starting from the date on which your account was debited. Your "
            "rights are explained in a statement that you can obtain from your bank.",
            f"The amount and date of each debit are announced to you at least {days} days "
            "before it, by the invoice (and its email when paperless billing is on). This is "
            "a recurrent mandate; you can revoke it at any time in your account.",
        )
    if language == "fr":
        return (
            f"J'autorise {creditor} à débiter, par prélèvement ACH, le compte bancaire "
            "désigné ci-dessus du montant de chaque facture de mon compte à sa date "
            "d'échéance, et, si un débit est effectué par erreur, à le corriger par un "
            "crédit ou un débit du même montant.",
            f"Le montant et la date de chaque prélèvement me sont annoncés au moins {days} "
            "jours avant par la facture. Cette autorisation reste valable jusqu'à ce que je "
            f"la révoque dans mon espace client ou en écrivant à {creditor}, au moins 3 "
            "jours ouvrés avant un prélèvement.",
            "Je certifie être titulaire de ce compte ou autorisé à le débiter, et que les "
            "prélèvements respectent les règles NACHA et la loi des États-Unis.",
        )
    return (
        f"I authorize {creditor} to debit the bank account named above, by ACH, for the "
        "amount of each invoice of my account on its due date and, if a debit is made in "
        "error, to correct it by a credit or debit of the same amount.",
        f"The amount and date of each debit are announced to me at least {days} days "
        "before it, by the invoice. This authorization remains in effect until I revoke it "
        f"in my account or by writing to {creditor}, at least 3 business days before a "
        "debit.",
        "I certify that I am an account holder or authorized to debit this account, and "
        "that the debits comply with the NACHA rules and United States law.",
    )


LABELS = {
    "en": {
        DebitScheme.SEPA: "SEPA DIRECT DEBIT MANDATE (CORE)",
        DebitScheme.ACH: "ACH DEBIT AUTHORIZATION",
        "reference": "Mandate reference",
        "creditor": "Creditor",
        "creditor_id": "Creditor identifier",
        "holder": "Account holder",
        "account": "Account",
        "bic": "BIC",
        "routing": "Routing number",
        "type": "Account type",
        "customer": "Customer number",
        "kind": "Payment type",
        "recurrent": "Recurrent",
        "signed": "Signed electronically on",
        "by": "by",
        "revoked": "Revoked on",
        "checking": "Checking",
        "savings": "Savings",
    },
    "fr": {
        DebitScheme.SEPA: "MANDAT DE PRÉLÈVEMENT SEPA (CORE)",
        DebitScheme.ACH: "AUTORISATION DE PRÉLÈVEMENT ACH",
        "reference": "Référence unique du mandat",
        "creditor": "Créancier",
        "creditor_id": "Identifiant créancier SEPA",
        "holder": "Titulaire du compte",
        "account": "Compte",
        "bic": "BIC",
        "routing": "Numéro de routage",
        "type": "Type de compte",
        "customer": "Numéro client",
        "kind": "Type de paiement",
        "recurrent": "Récurrent",
        "signed": "Signé électroniquement le",
        "by": "par",
        "revoked": "Révoqué le",
        "checking": "Compte courant",
        "savings": "Compte d'épargne",
    },
}


def _latin(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _moment(mandate: DebitMandate, language: str, revoked: bool = False) -> str:
    at = mandate.revoked_at if revoked and mandate.revoked_at else mandate.signed_at
    return at.strftime("%d/%m/%Y %H:%M UTC" if language == "fr" else "%Y-%m-%d %H:%M UTC")


def mandate_facts(mandate: DebitMandate, language: str) -> list[tuple[str, str]]:
    """(label, value) of the signed mandate, as the PDF prints them."""
    labels = LABELS.get(language, LABELS["en"])
    facts = [
        (labels["reference"], mandate.reference),
        (labels["customer"], mandate.customer_number),
        (labels["creditor"], mandate.creditor_name),
    ]
    if mandate.scheme is DebitScheme.SEPA:
        facts.append((labels["creditor_id"], mandate.creditor_id))
    facts.append((labels["holder"], mandate.account_holder))
    facts.append((labels["account"], mandate.account))
    if mandate.scheme is DebitScheme.SEPA:
        if mandate.bank:
            facts.append((labels["bic"], mandate.bank))
        facts.append((labels["kind"], labels["recurrent"]))
    else:
        facts.append((labels["routing"], mandate.bank))
        facts.append((labels["type"], labels.get(mandate.account_type, mandate.account_type)))
    facts.append(
        (labels["signed"], f"{_moment(mandate, language)} {labels['by']} {mandate.signed_by}")
    )
    if mandate.revoked_at is not None:
        facts.append((labels["revoked"], _moment(mandate, language, revoked=True)))
    return facts


def mandate_pdf(mandate: DebitMandate, language: str | None = None) -> bytes:
    """The signed mandate as a one-page PDF (A4) for the customer's records."""
    lang = language or mandate.language
    labels = LABELS.get(lang, LABELS["en"])
    from fpdf import FPDF  # on the first PDF: the import costs every process's start

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 10, _latin(str(labels[mandate.scheme])), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for label, value in mandate_facts(mandate, lang):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(60, 7, _latin(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 7, _latin(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 10)
    for paragraph in mandate_text(mandate.scheme, lang, mandate.creditor_name, mandate.creditor_id):
        pdf.multi_cell(0, 5.5, _latin(paragraph), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())
