"""The virtual assistant on the shipped articles: the 200 labelled questions of
tests/data (100 English, 100 French) go to the right intent or article at least 85 %
of the time, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from postroom.core.app import Postroom
from postroom.core.knowledge.assistant import routes

QUESTIONS = Path(__file__).resolve().parent.parent / "data" / "assistant_questions.tsv"


def labelled() -> list[tuple[str, str, str]]:
    rows = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            language, expected, question = line.split("\t")
            rows.append((language, expected, question))
    return rows


def test_the_labelled_set_is_half_english_half_french() -> None:
    rows = labelled()
    assert len(rows) == 200
    assert sum(1 for language, _, _ in rows if language == "en") == 100


def test_at_least_85_percent_of_questions_route_right(shipped_articles: Postroom) -> None:
    postroom = shipped_articles
    wrong = []
    rows = labelled()
    for language, expected, question in rows:
        reply = postroom.assistant.answer(question, language)
        if expected not in routes(reply):
            wrong.append((question, expected, sorted(routes(reply))))
    share = 1 - len(wrong) / len(rows)
    assert share >= 0.85, f"{share:.1%} right; wrong: {wrong}"


def test_the_assistant_reads_the_signed_in_customers_balance(postroom: Postroom) -> None:
    number = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    reply = postroom.assistant.answer("what is my balance?", "en", customer_number=number)
    assert "$0.00" in reply.text or "no postage account" in reply.text
    inspection = postroom.assistant.answer(
        "when is my next inspection", "en", customer_number=number
    )
    assert "No meter is registered" in inspection.text
