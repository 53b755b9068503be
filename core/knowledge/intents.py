"""The virtual assistant's intents: what a customer may ask it to do rather than to
explain, with example phrasings in English and French, and the pure matcher that scores
a question against them (stems shared with the search, weighted by how rare each stem is
among the examples). No I/O, no external model."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum

import attrs

from postroom.core.knowledge import analysis


class Intent(StrEnum):
    BALANCE = "balance"
    INSPECTION = "inspection"
    REFILL = "refill"
    TRACKING = "tracking"
    OPEN_CASE = "open_case"
    AGENT = "agent"


EXAMPLES: Mapping[Intent, Mapping[str, Sequence[str]]] = {
    Intent.BALANCE: {
        "en": [
            "what is my balance",
            "how much postage do I have left",
            "how much money is on my postage account",
            "show my account balance",
            "what are my available funds",
            "how much credit is left",
        ],
        "fr": [
            "quel est mon solde",
            "combien me reste-t-il d'affranchissement",
            "combien d'argent sur mon compte d'affranchissement",
            "afficher le solde de mon compte",
            "quels sont mes fonds disponibles",
            "combien de crédit me reste-t-il",
        ],
    },
    Intent.INSPECTION: {
        "en": [
            "when is my inspection due",
            "when is my next inspection",
            "next inspection date of my meter",
            "when must my meter be inspected",
            "is my inspection overdue",
            "inspection deadline",
        ],
        "fr": [
            "quand est due mon inspection",
            "quand a lieu ma prochaine inspection",
            "date de la prochaine inspection de ma machine",
            "quand ma machine doit-elle être inspectée",
            "mon inspection est-elle échue",
            "échéance d'inspection",
        ],
    },
    Intent.REFILL: {
        "en": [
            "I want to refill my meter",
            "refill my meter",
            "add postage to my meter",
            "load postage into the meter",
            "top up my meter",
            "buy more postage",
        ],
        "fr": [
            "je veux recharger ma machine",
            "recharger ma machine",
            "ajouter de l'affranchissement à ma machine",
            "charger de l'affranchissement dans la machine",
            "créditer ma machine",
            "acheter de l'affranchissement",
        ],
    },
    Intent.TRACKING: {
        "en": [
            "where is my parcel",
            "track my parcel",
            "tracking number status",
            "where is my package",
            "track a shipment",
            "has my parcel been delivered",
        ],
        "fr": [
            "où est mon colis",
            "suivre mon colis",
            "statut du numéro de suivi",
            "où en est mon envoi",
            "suivre un envoi",
            "mon colis a-t-il été livré",
        ],
    },
    Intent.OPEN_CASE: {
        "en": [
            "open a case",
            "I want to open a support case",
            "create a ticket",
            "report a problem to support",
            "file a complaint",
            "new support request",
        ],
        "fr": [
            "ouvrir une demande",
            "je veux ouvrir une demande au support",
            "créer un ticket",
            "signaler un problème au support",
            "faire une réclamation au service client",
            "nouvelle demande d'assistance",
        ],
    },
    Intent.AGENT: {
        "en": [
            "talk to a person",
            "I want to speak to an agent",
            "can I talk to a human",
            "connect me to customer service",
            "real person please",
            "speak to someone",
        ],
        "fr": [
            "parler à une personne",
            "je veux parler à un conseiller",
            "puis-je parler à un humain",
            "mettez-moi en relation avec le service client",
            "une vraie personne s'il vous plaît",
            "parler à quelqu'un",
        ],
    },
}

#: Words that hand the conversation to a person at once, whatever else is asked
#: (folded: no accents).
HANDOFF_WORDS = {
    "en": frozenset({"agent", "human", "person", "operator", "representative", "someone"}),
    "fr": frozenset({"conseiller", "conseillere", "humain", "personne", "operateur", "quelqu"}),
}

#: Tracking numbers: UPU S10 (two letters, nine digits, two letters), UPS 1Z, Colissimo
#: (a digit, a letter, eleven digits), and the long all-digit numbers of USPS, FedEx...
TRACKING_NUMBER = re.compile(
    r"\b([A-Z]{2}[0-9]{9}[A-Z]{2}|1Z[0-9A-Z]{16}|[0-9][A-Z][0-9]{11}|[0-9]{12,22})\b",
    re.IGNORECASE,
)


def tracking_number(question: str) -> str | None:
    """The first tracking number written in ``question``, upper-cased, else None."""
    found = TRACKING_NUMBER.search(question)
    return found.group(1).upper() if found else None


def asks_for_a_person(question: str, language: str) -> bool:
    """Whether ``question`` names a person to talk to (either language's words: a
    customer writes what comes)."""
    words = set(analysis.tokens(question))
    return bool(words & (HANDOFF_WORDS["en"] | HANDOFF_WORDS["fr"]))


@attrs.frozen
class Match:
    intent: Intent
    score: float


@attrs.frozen
class IntentMatcher:
    """Each intent's examples as weighted stem sets, per language."""

    examples: Mapping[str, Sequence[tuple[Intent, frozenset[str]]]]
    weights: Mapping[str, Mapping[str, float]]

    @classmethod
    def build(
        cls, source: Mapping[Intent, Mapping[str, Sequence[str]]] = EXAMPLES
    ) -> IntentMatcher:
        examples: dict[str, list[tuple[Intent, frozenset[str]]]] = {"en": [], "fr": []}
        for intent, by_language in source.items():
            for language, phrases in by_language.items():
                for phrase in phrases:
                    examples[language].append((intent, _stems(phrase, language)))
        weights: dict[str, dict[str, float]] = {}
        for language, rows in examples.items():
            counts: dict[str, int] = {}
            for _, stems in rows:
                for stem in stems:
                    counts[stem] = counts.get(stem, 0) + 1
            weights[language] = {s: math.log(1 + len(rows) / n) for s, n in counts.items()}
        return cls(examples, weights)

    def best(self, question: str, language: str) -> Match | None:
        """The intent whose closest example shares the most weight with ``question``
        (a cosine of weighted stem sets, 0 to 1), or None when nothing is shared."""
        asked = _stems(question, language)
        if not asked:
            return None
        weight = self.weights[language]
        rare = max(weight.values())  # a stem no example has weighs as the rarest

        def norm(stems: frozenset[str]) -> float:
            return math.sqrt(sum(weight.get(s, rare) ** 2 for s in stems))

        asked_norm = norm(asked)
        best: Match | None = None
        for intent, stems in self.examples[language]:
            shared = sum(weight[s] ** 2 for s in asked & stems)
            if not shared:
                continue
            score = shared / (asked_norm * norm(stems))
            if best is None or score > best.score:
                best = Match(intent, score)
        return best


def _stems(text: str, language: str) -> frozenset[str]:
    return frozenset(analysis.stems(analysis.query_words(text, language), language))
