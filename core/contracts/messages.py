"""What the contracts area writes to customers, in English and French (pure text).

Each function answers ``{language: (subject, body)}``; the service sends the English
text with the French as its translation, and each addressee reads their own language.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from babel.dates import format_date

from postroom.core.contracts.model import Contract, ContractKind, InstallationAddress, Term

LANGUAGES = {"en": "en_US", "fr": "fr_FR"}

Texts = Mapping[str, tuple[str, str]]

_KIND = {
    "en": {
        ContractKind.LEASE: "lease contract",
        ContractKind.RENTAL: "rental contract",
        ContractKind.MAINTENANCE: "maintenance contract",
    },
    "fr": {
        ContractKind.LEASE: "contrat de crédit-bail",
        ContractKind.RENTAL: "contrat de location",
        ContractKind.MAINTENANCE: "contrat de maintenance",
    },
}
_PERIOD = {
    "en": {"monthly": "per month", "quarterly": "per quarter", "yearly": "per year"},
    "fr": {"monthly": "par mois", "quarterly": "par trimestre", "yearly": "par an"},
}


def _day(day: date, language: str) -> str:
    return format_date(day, "long", locale=LANGUAGES[language])


def renewal_reminder(contract: Contract, term: Term) -> Texts:
    """The reminder of a term's end: it renews by itself (and how to stop it), or it
    ends (and how to renew)."""
    renewal = term.end + timedelta(days=1)
    notice = term.end - timedelta(days=contract.terms.notice_days)
    texts = {}
    for language, locale in LANGUAGES.items():
        kind = _KIND[language][contract.kind]
        amount = (
            f"{contract.terms.amount.format(locale)} "
            f"{_PERIOD[language][contract.terms.billing_period.value]}"
        )
        end, renews, by = (_day(d, language) for d in (term.end, renewal, notice))
        if language == "en":
            if contract.auto_renew:
                subject = f"Your {kind} {contract.number} renews on {renews}"
                body = (
                    f"Your {kind} {contract.number} for meter {contract.serial} ends its "
                    f"current term on {end} and renews by itself on {renews} for "
                    f"{contract.term_months} months ({amount}).\n\n"
                    f"To end it instead, give notice by {by} "
                    f"({contract.terms.notice_days} days before the end of the term).\n"
                )
            else:
                subject = f"Your {kind} {contract.number} ends on {end}"
                body = (
                    f"Your {kind} {contract.number} for meter {contract.serial} ends on "
                    f"{end} ({amount}). It does not renew by itself: to keep the service "
                    f"from {renews}, contact us before {end}.\n"
                )
        elif contract.auto_renew:
            subject = f"Votre {kind} {contract.number} est reconduit le {renews}"
            body = (
                f"Votre {kind} {contract.number} pour la machine {contract.serial} "
                f"termine sa période en cours le {end} et sera reconduit automatiquement "
                f"le {renews} pour {contract.term_months} mois ({amount}).\n\n"
                f"Pour y mettre fin, envoyez votre préavis au plus tard le {by} "
                f"({contract.terms.notice_days} jours avant la fin de la période).\n"
            )
        else:
            subject = f"Votre {kind} {contract.number} prend fin le {end}"
            body = (
                f"Votre {kind} {contract.number} pour la machine {contract.serial} prend "
                f"fin le {end} ({amount}). Il n'est pas reconduit automatiquement : pour "
                f"garder le service à partir du {renews}, contactez-nous avant le {end}.\n"
            )
        texts[language] = (subject, body)
    return texts


def address_change_received(
    reference: str, serial: str, address: InstallationAddress, move_on: date, who: str
) -> Texts:
    where = "\n".join(address.lines())
    return {
        "en": (
            f"We received your address change {reference} for meter {serial}",
            f"{who} asked to move meter {serial} on {_day(move_on, 'en')} to:\n\n{where}\n\n"
            f"Our support team will confirm the move. Reference: {reference}.\n",
        ),
        "fr": (
            f"Nous avons reçu votre changement d'adresse {reference} pour la machine {serial}",
            f"{who} a demandé le déménagement de la machine {serial} le "
            f"{_day(move_on, 'fr')} à l'adresse :\n\n{where}\n\n"
            f"Notre support confirmera le déménagement. Référence : {reference}.\n",
        ),
    }


def address_change_made(reference: str, serial: str, address: InstallationAddress) -> Texts:
    where = "\n".join(address.lines())
    return {
        "en": (
            f"Meter {serial}: installation address changed ({reference})",
            f"The installation address of meter {serial} is now:\n\n{where}\n",
        ),
        "fr": (
            f"Machine {serial} : adresse d'installation modifiée ({reference})",
            f"L'adresse d'installation de la machine {serial} est désormais :\n\n{where}\n",
        ),
    }


def address_change_refused(reference: str, serial: str, note: str) -> Texts:
    return {
        "en": (
            f"Meter {serial}: address change {reference} not made",
            f"We could not make the address change {reference} for meter {serial}: "
            f"{note}\nPlease contact support.\n",
        ),
        "fr": (
            f"Machine {serial} : changement d'adresse {reference} non effectué",
            f"Nous n'avons pas pu effectuer le changement d'adresse {reference} pour la "
            f"machine {serial} : {note}\nMerci de contacter le support.\n",
        ),
    }
