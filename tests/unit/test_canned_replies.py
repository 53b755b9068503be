"""Canned replies on an in-memory repository: placeholders checked when saved, filled
from the case in the agent's or the customer's language, departments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from postroom.core.cases.canned import CannedReplies, check_placeholders, fill
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, ValidationError
from tests.unit.canned_fakes import FakeCannedDatabase

DEPARTMENTS = ("equipment", "billing")


def _department(value: object) -> str:
    if value not in DEPARTMENTS:
        raise ValidationError("a department", code="invalid_department")
    return str(value)


@pytest.fixture
def db() -> FakeCannedDatabase:
    return FakeCannedDatabase()


@pytest.fixture
def canned(db: FakeCannedDatabase) -> CannedReplies:
    clock = FrozenClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    return CannedReplies(db, clock, _department, db.factory)


def test_a_reply_is_filled_in_the_readers_language(canned: CannedReplies) -> None:
    reply = canned.add(
        "Received",
        "Hello {customer_name}, we received your case {case_number}.",
        "Bonjour {customer_name}, nous avons reçu votre dossier {case_number}.",
    )
    values = {"customer_name": "Ann Lee", "case_number": "C-2026-000001"}
    assert canned.render(reply.id, "en", values) == (
        "Hello Ann Lee, we received your case C-2026-000001."
    )
    assert canned.render(reply.id, "fr", values) == (
        "Bonjour Ann Lee, nous avons reçu votre dossier C-2026-000001."
    )


@pytest.mark.parametrize(
    "body", ["Hello {name}", "Hello {customer_name", "Hello }", "{Case_Number}"]
)
def test_an_unknown_placeholder_or_a_stray_brace_is_refused_and_nothing_is_saved(
    canned: CannedReplies, db: FakeCannedDatabase, body: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        canned.add("Hello", body, "Bonjour")
    assert raised.value.code == "unknown_placeholder"
    assert db.repository.replies == {}


def test_a_reply_needs_a_title_and_both_languages(canned: CannedReplies) -> None:
    for title, en, fr, code in [
        ("", "a", "b", "missing_title"),
        ("t", " ", "b", "missing_body_en"),
        ("t", "a", "", "missing_body_fr"),
        ("x" * 121, "a", "b", "title_too_long"),
        ("t\x1b", "a", "b", "control_character"),
    ]:
        with pytest.raises(ValidationError) as raised:
            canned.add(title, en, fr)
        assert raised.value.code == code


def test_a_department_sees_its_own_replies_and_the_general_ones(canned: CannedReplies) -> None:
    general = canned.add("Thanks", "Thank you.", "Merci.")
    billing = canned.add("Invoice", "Your invoice.", "Votre facture.", department="billing")
    canned.add("Meter", "Your meter.", "Votre machine.", department="equipment")
    assert [r.id for r in canned.list("billing")] == [billing.id, general.id]
    assert len(canned.list()) == 3
    with pytest.raises(ValidationError):
        canned.add("x", "y", "z", department="kitchen")


def test_update_and_delete(canned: CannedReplies) -> None:
    reply = canned.add("Thanks", "Thank you.", "Merci.")
    canned.update(reply.id, "Thanks!", "Thank you, {agent_name}.", "Merci, {agent_name}.")
    assert canned.get(reply.id).title == "Thanks!"
    canned.delete(reply.id)
    with pytest.raises(NotFound):
        canned.get(reply.id)
    with pytest.raises(NotFound):
        canned.update(reply.id, "a", "b", "c")
    with pytest.raises(NotFound):
        canned.delete(reply.id)


def test_fill_leaves_a_missing_value_empty_and_check_passes_plain_text() -> None:
    assert fill("Dear {customer_name},", {}) == "Dear ,"
    assert check_placeholders("No braces here.", "body_en") == "No braces here."
