"""The virtual assistant on in-memory fakes (no I/O): intents, acting on the customer's
own data, hand-offs, and bad questions."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest
from knowledge_fakes import FakeArticles, FakeDatabase, FakeIndex

from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, ValidationError
from postroom.core.knowledge.assistant import Assistant, MeterInspection, ReplyKind
from postroom.core.knowledge.intents import Intent, tracking_number
from postroom.core.knowledge.model import make_draft
from postroom.core.knowledge.service import KnowledgeService
from postroom.core.money import Money


@attrs.define
class FakeFacts:
    """``CustomerFacts`` of one customer, 1000000001; another number is unknown."""

    parcels: dict[str, str] = attrs.field(factory=dict)

    def postage_balance(self, customer_number: str) -> Money | None:
        if customer_number != "1000000001":
            raise NotFound("no such account", code="account_not_found")
        return Money.parse("1209.50 USD")

    def inspections(self, customer_number: str) -> list[MeterInspection]:
        return [
            MeterInspection(
                "PR-0042",
                datetime(2026, 5, 31, tzinfo=UTC),
                datetime(2026, 6, 30, tzinfo=UTC),
            )
        ]

    def parcel_status(self, customer_number: str, tracking_number: str) -> str | None:
        return self.parcels.get(tracking_number)


@pytest.fixture
def assistant() -> Assistant:
    db = FakeDatabase()
    kb = KnowledgeService(
        db,
        FrozenClock.at("2026-03-02T09:30:00+00:00"),
        repository=lambda _: FakeArticles(db),
        index=lambda _: FakeIndex(db),
        reader=FakeIndex(db),
    )
    for family, slug, language, title, body in [
        ("meter-locked", "meter-locked", "en", "The meter is locked and will not print",
         "A locked meter refuses to print postage until it syncs."),
        ("meter-locked", "machine-bloquee", "fr", "La machine est bloquée",
         "Une machine bloquée refuse d'imprimer jusqu'à sa synchronisation."),
        ("inspection-due", "inspection-due", "en", "Your meter's inspection is due",
         "Connect the meter and sync it."),
        ("add-postage", "add-postage", "en", "Adding postage to your meter",
         "Refill the meter from the postage account."),
        ("tracking-statuses", "tracking-statuses", "en", "What each tracking status means",
         "In transit means moving between sorting centres."),
    ]:  # fmt: skip
        kb.write(
            make_draft(
                family=family, slug=slug, language=language, title=title, body=body,
                product="meters", topic="help",
            ),
            "ana@staff",
        )  # fmt: skip
        kb.publish(slug)
    return Assistant(kb, FakeFacts({"LA123456789FR": "delivered on 3 March"}))


def test_an_explanation_question_gets_its_article(assistant: Assistant) -> None:
    reply = assistant.answer("My meter is locked, it will not print", "en")
    assert reply.kind == ReplyKind.ARTICLE
    assert reply.articles[0].slug == "meter-locked"
    french = assistant.answer("ma machine est bloquée", "fr")
    assert french.articles[0].slug == "machine-bloquee"


def test_the_balance_is_read_from_the_customers_own_account(assistant: Assistant) -> None:
    reply = assistant.answer("what is my balance?", "en", customer_number="1000000001")
    assert reply.intent == Intent.BALANCE
    assert "$1,209.50" in reply.text
    french = assistant.answer("quel est mon solde", "fr", customer_number="1000000001")
    assert "1\u202f209,50\xa0$US" in french.text or "1 209,50" in french.text


def test_without_a_customer_the_assistant_asks_to_sign_in(assistant: Assistant) -> None:
    reply = assistant.answer("what is my balance?", "en")
    assert reply.intent == Intent.BALANCE
    assert "Sign in" in reply.text
    assert "1,209.50" not in reply.text


def test_the_next_inspection_comes_from_the_customers_meters(assistant: Assistant) -> None:
    reply = assistant.answer("when is my inspection due?", "en", customer_number="1000000001")
    assert reply.intent == Intent.INSPECTION
    assert "PR-0042" in reply.text
    assert "2026-05-31" in reply.text
    assert [a.slug for a in reply.articles] == ["inspection-due"]


def test_a_tracking_number_is_looked_up(assistant: Assistant) -> None:
    found = assistant.answer("where is LA123456789FR?", "en", customer_number="1000000001")
    assert found.intent == Intent.TRACKING
    assert "delivered on 3 March" in found.text
    unknown = assistant.answer("where is EE000000000US", "en", customer_number="1000000001")
    assert "can't find parcel EE000000000US" in unknown.text
    assert [a.slug for a in unknown.articles] == ["tracking-statuses"]
    assert tracking_number("track 1Z999AA10123456784 please") == "1Z999AA10123456784"


@pytest.mark.parametrize(
    ("question", "language"),
    [("agent", "en"), ("I want a human", "en"), ("un conseiller svp", "fr"), ("humain", "fr")],
)
def test_asking_for_a_person_hands_off_at_once(
    assistant: Assistant, question: str, language: str
) -> None:
    reply = assistant.answer(question, language)
    assert reply.handoff
    assert reply.handoff_reason == "asked"


def test_two_misses_in_a_row_hand_off(assistant: Assistant) -> None:
    first = assistant.answer("xyzzy plugh frobnicate", "en")
    assert first.kind == ReplyKind.NOT_UNDERSTOOD
    assert first.misses == 1
    second = assistant.answer("quux wibble", "en", misses=first.misses)
    assert second.handoff
    assert second.handoff_reason == "low_confidence"
    understood = assistant.answer("my meter is locked", "en", misses=1)
    assert understood.misses == 0


@pytest.mark.parametrize(
    ("question", "code"),
    [("", "empty_question"), ("   ", "empty_question"), ("x" * 100_000, "question_too_long"),
     ("meter\x00locked", "control_character")],
)  # fmt: skip
def test_a_bad_question_is_refused_clearly(assistant: Assistant, question: str, code: str) -> None:
    with pytest.raises(ValidationError) as error:
        assistant.answer(question, "en")
    assert error.value.code == code


def test_script_in_a_question_is_only_text(assistant: Assistant) -> None:
    reply = assistant.answer("<script>alert(1)</script> meter locked", "en")
    assert "<script>" not in reply.text
