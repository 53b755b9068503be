"""The virtual assistant (``pr.assistant``): answers a chat question from the knowledge
base, or acts on the signed-in customer's own data, and says when a person should take
over. No external model: intent matching (``intents.py``) plus the knowledge search.

A question is routed, in order: to a person when it asks for one ("agent", "conseiller",
"humain"...); to parcel tracking when it holds a tracking number; to an intent when its
closest example phrasing is near enough; else to the best article when the search found
every word, or most of them. Anything else is a miss; two misses in a row hand the
conversation to a person. The caller (the chat) keeps the count of misses.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

import attrs

from postroom.core.errors import NotFound, ValidationError
from postroom.core.knowledge import analysis, model
from postroom.core.knowledge.intents import (
    Intent,
    IntentMatcher,
    asks_for_a_person,
    tracking_number,
)
from postroom.core.knowledge.model import Article, Language
from postroom.core.knowledge.service import KnowledgeService
from postroom.core.money import Money
from postroom.core.text import check_no_control

MAX_QUESTION = 2000
#: An intent is taken at once when its closest example is this near (cosine, 0 to 1);
#: from INTENT_THRESHOLD, only when no article answers the question more surely.
SURE_INTENT = 0.75
INTENT_THRESHOLD = 0.5
#: An article found by some of the words is offered when it holds this share of them.
COVERAGE_THRESHOLD = 0.5
#: How many of the search's first hits the assistant ranks again.
RERANKED = 5
#: Misses in a row after which a person takes over.
MISSES_BEFORE_HANDOFF = 2

#: The article that goes with each intent (a family).
INTENT_ARTICLES = {
    Intent.BALANCE: "add-postage",
    Intent.INSPECTION: "inspection-due",
    Intent.REFILL: "add-postage",
    Intent.TRACKING: "tracking-statuses",
    Intent.OPEN_CASE: "support-cases",
}


class ReplyKind(StrEnum):
    ANSWER = "answer"  # an intent answered, from the customer's data where it needs it
    ARTICLE = "article"  # an article that should answer the question
    OPEN_CASE = "open_case"  # the customer wants a case: the chat offers to open one
    HANDOFF = "handoff"  # a person takes over
    NOT_UNDERSTOOD = "not_understood"


@attrs.frozen
class MeterInspection:
    serial: str
    due_at: datetime | None
    lock_at: datetime | None


class CustomerFacts(Protocol):
    """What the assistant may read of the signed-in customer's own account."""

    def postage_balance(self, customer_number: str) -> Money | None:
        """The postage account's available funds (None: the account has none yet)."""
        ...

    def inspections(self, customer_number: str) -> list[MeterInspection]: ...

    def parcel_status(self, customer_number: str, tracking_number: str) -> str | None:
        """The parcel's latest status in words, or None when it is unknown here (no
        tracking service is wired, or the parcel is not the customer's)."""
        ...


@attrs.frozen
class Reply:
    kind: ReplyKind
    text: str
    language: Language
    confidence: float
    intent: Intent | None = None
    articles: tuple[Article, ...] = ()
    #: misses in a row, this reply included: what the caller passes back next time
    misses: int = 0
    #: why a person takes over: asked, low_confidence
    handoff_reason: str | None = None

    @property
    def handoff(self) -> bool:
        return self.kind == ReplyKind.HANDOFF


def parse_question(value: object) -> str:
    clean = " ".join(value.split()) if isinstance(value, str) else ""
    if not clean:
        raise ValidationError("ask a question", code="empty_question")
    if len(clean) > MAX_QUESTION:
        raise ValidationError(
            f"a question is at most {MAX_QUESTION} characters", code="question_too_long"
        )
    return check_no_control(clean, "question")


class Assistant:
    """``pr.assistant``: one answer per question; no state of its own."""

    def __init__(
        self,
        knowledge: KnowledgeService,
        facts: CustomerFacts,
        matcher: IntentMatcher | None = None,
    ) -> None:
        self._knowledge = knowledge
        self._facts = facts
        self._matcher = matcher or IntentMatcher.build()

    def answer(
        self,
        question: str,
        language: str | Language,
        *,
        customer_number: str | None = None,
        misses: int = 0,
    ) -> Reply:
        text = parse_question(question)
        lang = model.parse_language(language)
        if asks_for_a_person(text, lang.value):
            return _handoff(lang, "asked", misses=0)
        number = tracking_number(text)
        if number is not None:
            return self._act(Intent.TRACKING, lang, customer_number, 1.0, number)
        match = self._matcher.best(text, lang.value)
        intent_score = 0.0 if match is None else match.score
        if match is not None and intent_score >= SURE_INTENT:
            return self._intent(match.intent, lang, customer_number, intent_score)
        article, confidence = self._article(text, lang)
        if article is not None and confidence >= intent_score:
            return Reply(
                ReplyKind.ARTICLE,
                _says(lang, "article", title=article.title),
                lang,
                confidence,
                articles=(article,),
            )
        if match is not None and intent_score >= INTENT_THRESHOLD:
            return self._intent(match.intent, lang, customer_number, intent_score)
        missed = misses + 1
        if missed >= MISSES_BEFORE_HANDOFF:
            return _handoff(lang, "low_confidence", misses=missed)
        return Reply(
            ReplyKind.NOT_UNDERSTOOD, _says(lang, "not_understood"), lang, 0.0, misses=missed
        )

    def _intent(
        self, intent: Intent, language: Language, customer: str | None, score: float
    ) -> Reply:
        if intent == Intent.AGENT:
            return _handoff(language, "asked", misses=0)
        return self._act(intent, language, customer, score, None)

    def _article(self, text: str, language: Language) -> tuple[Article | None, float]:
        """The best article for ``text`` and how sure of it the assistant is: the
        search's first hits, ranked again by how many of the question's words their
        title holds (a question is short; a title says what an article answers)."""
        query = text[: model.MAX_QUERY]
        try:
            result = self._knowledge.search(query, language, limit=RERANKED, record=False)
        except ValidationError:
            return None, 0.0
        if not result.hits:
            return None, 0.0
        asked = set(
            analysis.stems(
                analysis.query_words(result.corrected or query, language.value), language.value
            )
        )
        scored = []
        for position, hit in enumerate(result.hits):
            title = set(analysis.stems(analysis.tokens(hit.article.title), language.value))
            text_stems = title | set(
                analysis.stems(analysis.tokens(hit.article.text), language.value)
            )
            in_title = len(asked & title) / len(asked)
            covered = len(asked & text_stems) / len(asked)
            rank = 2 * in_title + covered + 1 / (2 + position)
            scored.append((rank, in_title, covered, hit.article))
        _, in_title, covered, best = max(scored, key=lambda s: s[0])
        if result.matched_all:
            return best, 0.6 + 0.4 * in_title
        return (best, covered) if covered >= COVERAGE_THRESHOLD else (None, covered)

    def _act(
        self,
        intent: Intent,
        language: Language,
        customer: str | None,
        confidence: float,
        number: str | None,
    ) -> Reply:
        family = INTENT_ARTICLES.get(intent)
        article = None if family is None else self._knowledge.in_family(family, language)
        articles = () if article is None else (article,)
        kind = ReplyKind.OPEN_CASE if intent == Intent.OPEN_CASE else ReplyKind.ANSWER
        return Reply(
            kind,
            self._text(intent, language, customer, number),
            language,
            confidence,
            intent=intent,
            articles=articles,
        )

    def _text(
        self, intent: Intent, language: Language, customer: str | None, number: str | None
    ) -> str:
        if intent == Intent.OPEN_CASE:
            return _says(language, "open_case")
        if intent == Intent.REFILL:
            return _says(language, "refill")
        if customer is None:
            return _says(language, f"{intent.value}_sign_in")
        if intent == Intent.BALANCE:
            try:
                balance = self._facts.postage_balance(customer)
            except NotFound:
                balance = None
            if balance is None:
                return _says(language, "no_balance")
            locale = "fr_FR" if language == Language.FR else "en_US"
            return _says(language, "balance", amount=balance.format(locale))
        if intent == Intent.INSPECTION:
            meters = self._facts.inspections(customer)
            if not meters:
                return _says(language, "no_meter")
            return " ".join(_inspection_line(language, m) for m in meters)
        if number is None:
            return _says(language, "tracking_number")
        status = self._facts.parcel_status(customer, number)
        if status is None:
            return _says(language, "tracking_unknown", number=number)
        return _says(language, "tracking", number=number, status=status)


def _handoff(language: Language, reason: str, *, misses: int) -> Reply:
    return Reply(
        ReplyKind.HANDOFF,
        _says(language, f"handoff_{reason}"),
        language,
        1.0 if reason == "asked" else 0.0,
        intent=Intent.AGENT,
        misses=misses,
        handoff_reason=reason,
    )


def _inspection_line(language: Language, meter: MeterInspection) -> str:
    if meter.due_at is None:
        return _says(language, "never_inspected", serial=meter.serial)
    lock = meter.lock_at.date().isoformat() if meter.lock_at else "?"
    return _says(
        language, "inspection", serial=meter.serial, due=meter.due_at.date().isoformat(), lock=lock
    )


_TEXTS = {
    "en": {
        "article": "This article should answer your question: {title}.",
        "not_understood": "I'm not sure I understood. Could you put it another way? "
        'You can also type "agent" to talk to a person.',
        "handoff_asked": "I'm passing you to a person from our support team. "
        "Stay in this conversation: they see everything above.",
        "handoff_low_confidence": "I can't answer this one. I'm passing you to a person from "
        "our support team; stay in this conversation.",
        "open_case": "I can open a support case with this conversation; a person will answer "
        "by email with a case number.",
        "refill": "Refills move money from your postage account into a meter; the meter "
        "applies it at its next sync. Here is how:",
        "balance": "Your postage account has {amount} available.",
        "no_balance": "Your account has no postage account yet: add money to open it.",
        "balance_sign_in": "Sign in and ask again: I will read your balance for you.",
        "inspection": "Meter {serial}: next inspection due on {due}; it locks on {lock} "
        "if it has not synced by then.",
        "never_inspected": "Meter {serial} has not synced yet: connect it to be inspected.",
        "no_meter": "No meter is registered to your account.",
        "inspection_sign_in": "Sign in and ask again: I will read your meters' dates for you.",
        "tracking": "Parcel {number}: {status}.",
        "tracking_unknown": "I can't find parcel {number} here. This article explains each "
        "tracking status:",
        "tracking_number": "Give me the tracking number and I will look it up.",
        "tracking_sign_in": "Sign in and give me the tracking number: I will look it up.",
    },
    "fr": {
        "article": "Cet article devrait répondre à votre question : {title}.",
        "not_understood": "Je ne suis pas sûr d'avoir compris. Pouvez-vous reformuler ? "
        "Vous pouvez aussi taper « conseiller » pour parler à une personne.",
        "handoff_asked": "Je vous passe une personne de notre support. Restez dans cette "
        "conversation : elle voit tout ce qui précède.",
        "handoff_low_confidence": "Je ne sais pas répondre à cela. Je vous passe une personne "
        "de notre support ; restez dans cette conversation.",
        "open_case": "Je peux ouvrir une demande au support avec cette conversation ; une "
        "personne vous répondra par e-mail avec un numéro de demande.",
        "refill": "Une recharge fait passer de l'argent de votre compte d'affranchissement à "
        "une machine, qui l'applique à sa synchronisation suivante. Voici comment faire :",
        "balance": "Votre compte d'affranchissement dispose de {amount}.",
        "no_balance": "Votre compte n'a pas encore de compte d'affranchissement : "
        "alimentez-le pour l'ouvrir.",
        "balance_sign_in": "Connectez-vous et reposez la question : je lirai votre solde.",
        "inspection": "Machine {serial} : prochaine inspection due le {due} ; elle se bloque "
        "le {lock} si elle ne s'est pas synchronisée d'ici là.",
        "never_inspected": "La machine {serial} ne s'est jamais synchronisée : connectez-la "
        "pour qu'elle soit inspectée.",
        "no_meter": "Aucune machine n'est enregistrée sur votre compte.",
        "inspection_sign_in": "Connectez-vous et reposez la question : je lirai les dates "
        "de vos machines.",
        "tracking": "Colis {number} : {status}.",
        "tracking_unknown": "Je ne trouve pas le colis {number} ici. Cet article explique "
        "chaque statut de suivi :",
        "tracking_number": "Donnez-moi le numéro de suivi et je le chercherai.",
        "tracking_sign_in": "Connectez-vous et donnez-moi le numéro de suivi : je le chercherai.",
    },
}


def _says(language: Language, key: str, **values: str) -> str:
    return _TEXTS[language.value][key].format(**values)


def routes(reply: Reply) -> set[str]:
    """Where a reply sent the question, as the labelled questions name it: its intent
    (``intent:<name>``) and the articles it offers (``article:<family>``)."""
    found = {f"article:{a.family}" for a in reply.articles}
    if reply.intent is not None:
        found.add(f"intent:{reply.intent.value}")
    return found
