"""The knowledge base's use cases on in-memory fakes (no I/O)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from knowledge_fakes import FakeArticles, FakeDatabase, FakeIndex

from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.knowledge.model import Status, make_draft, render
from postroom.core.knowledge.service import KnowledgeService


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T09:30:00+00:00")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def kb(db: FakeDatabase, clock: FrozenClock) -> KnowledgeService:
    return KnowledgeService(
        db,
        clock,
        repository=lambda _: FakeArticles(db),
        index=lambda _: FakeIndex(db),
        reader=FakeIndex(db),
    )


def draft(slug: str = "inspection-due", **changes: object):
    values: dict[str, object] = {
        "family": "inspection-due",
        "slug": slug,
        "language": "en",
        "title": "An inspection is due or the meter is locked",
        "body": "Connect the meter so that it can **sync**: the inspection happens "
        "during the sync. A meter whose inspection is overdue is locked.",
        "product": "meters",
        "topic": "inspections",
        "related": ["what-a-sync-does"],
    }
    values.update(changes)
    return make_draft(**values)  # type: ignore[arg-type]


FRENCH = {
    "family": "inspection-due",
    "language": "fr",
    "title": "Une inspection est due ou la machine est bloquée",
    "body": "Connectez la machine pour qu'elle se synchronise : l'inspection a lieu "
    "pendant la synchronisation. Une machine dont l'inspection est échue est bloquée.",
}


def test_a_new_article_is_a_draft_that_readers_do_not_see(kb: KnowledgeService) -> None:
    article = kb.write(draft(), "ana@staff")
    assert article.status == Status.DRAFT
    assert article.version == 1
    with pytest.raises(NotFound) as error:
        kb.get("inspection-due")
    assert error.value.code == "article_not_found"
    assert kb.get("inspection-due", staff=True).id == article.id
    assert kb.search("inspection", "en").hits == ()


def test_publishing_makes_it_readable_and_searchable(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    published = kb.publish("inspection-due")
    assert published.status == Status.PUBLISHED
    assert published.published_at is not None
    result = kb.search("Inspections", "en")
    assert [hit.article.slug for hit in result.hits] == ["inspection-due"]
    assert "<mark>inspection</mark>" in result.hits[0].snippet


def test_archiving_takes_it_out_of_search_and_the_help_centre(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    kb.publish("inspection-due")
    kb.archive("inspection-due")
    assert kb.search("inspection", "en").hits == ()
    with pytest.raises(NotFound):
        kb.get("inspection-due")
    assert kb.archive("inspection-due").status == Status.ARCHIVED  # again: no change


def test_a_draft_cannot_be_archived(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    with pytest.raises(Conflict) as error:
        kb.archive("inspection-due")
    assert error.value.code == "invalid_status_change"


def test_an_edit_keeps_the_previous_text_as_a_version_and_reindexes(
    kb: KnowledgeService, clock: FrozenClock
) -> None:
    kb.write(draft(), "ana@staff")
    kb.publish("inspection-due")
    clock.advance(timedelta(days=1))
    edited = kb.edit("inspection-due", draft(body="Renewal of the licence every year."), "bo@staff")
    assert edited.version == 2
    assert edited.author == "bo@staff"
    [old] = kb.versions("inspection-due")
    assert old.version == 1
    assert "sync" in old.body
    assert old.author == "ana@staff"
    assert kb.search("licence", "en").hits[0].article.slug == "inspection-due"
    assert kb.search("synchronise", "en").hits == ()


def test_an_edit_that_changes_nothing_makes_no_version(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    assert kb.edit("inspection-due", draft(), "bo@staff").version == 1
    assert kb.versions("inspection-due") == []


def test_translations_share_a_family_one_text_per_language(kb: KnowledgeService) -> None:
    english = kb.write(draft(), "ana@staff")
    french = kb.write(draft("inspection-echue", **FRENCH), "ana@staff")
    kb.publish(english.slug)
    kb.publish(french.slug)
    assert [a.slug for a in kb.translations(english)] == ["inspection-echue"]
    with pytest.raises(Conflict) as error:
        kb.write(draft("inspection-encore", **FRENCH), "ana@staff")
    assert error.value.code == "translation_exists"
    with pytest.raises(Conflict) as error:
        kb.write(draft(family="other"), "ana@staff")
    assert error.value.code == "slug_taken"


def test_related_articles_come_in_the_readers_language(kb: KnowledgeService) -> None:
    english = kb.write(draft(), "ana@staff")
    sync = kb.write(
        draft(
            "what-a-sync-does",
            family="what-a-sync-does",
            title="What a sync does",
            related=[],
        ),
        "ana@staff",
    )
    assert kb.related(english) == []  # a draft is not offered
    kb.publish(sync.slug)
    assert [a.slug for a in kb.related(english)] == ["what-a-sync-does"]


def test_french_search_ignores_accents_and_case_and_stems(kb: KnowledgeService) -> None:
    kb.write(draft("inspection-echue", **FRENCH), "ana@staff")
    kb.publish("inspection-echue")
    for query in ("ÉCHUE", "echue", "machines bloquees", "synchronisations"):
        hits = kb.search(query, "fr").hits
        assert [h.article.slug for h in hits] == ["inspection-echue"], query
    assert kb.search("inspection", "en").hits == ()  # the English index is another


def test_a_short_query_with_a_typo_is_corrected(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    kb.publish("inspection-due")
    result = kb.search("inspectoin", "en")
    assert result.corrected == "inspection"
    assert [h.article.slug for h in result.hits] == ["inspection-due"]
    assert kb.search("xqzvw", "en").hits == ()


def test_all_words_first_then_any(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    kb.publish("inspection-due")
    assert kb.search("locked meter banana", "en").hits  # falls back to any word


def test_searches_without_result_are_reported(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    kb.publish("inspection-due")
    kb.search("Postage scale", "en")
    kb.search("postage  SCALE", "en")
    kb.search("inspection", "en")
    kb.search("scale", "en", record=False)
    [missed] = kb.missed_searches()
    assert (missed.query, missed.count) == ("postage scale", 2)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "empty_query"),
        ("   ", "empty_query"),
        ("x" * 100_000, "query_too_long"),
        ("meter\x00", "control_character"),
    ],
)
def test_an_empty_or_huge_query_is_refused_clearly(
    kb: KnowledgeService, query: str, code: str
) -> None:
    with pytest.raises(ValidationError) as error:
        kb.search(query, "en")
    assert error.value.code == code


def test_a_vote_is_one_per_reader_and_can_change(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    kb.publish("inspection-due")
    kb.vote("inspection-due", "reader-1", True)
    kb.vote("inspection-due", "reader-2", True)
    kb.vote("inspection-due", "reader-1", False)
    [count] = kb.votes()
    assert (count.helpful, count.not_helpful) == (1, 1)


def test_a_draft_takes_no_votes(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    with pytest.raises(NotFound):
        kb.vote("inspection-due", "reader-1", True)


def test_a_form_whose_reader_read_an_article_and_opened_no_case_is_deflected(
    kb: KnowledgeService,
) -> None:
    kb.write(draft(), "ana@staff")
    kb.publish("inspection-due")
    read_only, became_case = kb.new_deflection_token(), kb.new_deflection_token()
    kb.note_read(read_only, "inspection-due")
    kb.note_read(read_only, "inspection-due")
    kb.note_read(became_case, "inspection-due")
    kb.note_case_opened(became_case, "CS-2026-000001")
    report = kb.deflection()
    assert (report.read, report.deflected, report.opened_anyway, report.rate) == (2, 1, 1, 0.5)
    with pytest.raises(ValidationError):
        kb.note_read("forged", "inspection-due")


def test_suggestions_follow_what_the_customer_types(kb: KnowledgeService) -> None:
    kb.write(draft(), "ana@staff")
    kb.publish("inspection-due")
    assert [h.article.slug for h in kb.suggest("My meter is lock", "", "en")] == ["inspection-due"]
    assert kb.suggest("", "", "en") == []
    assert kb.missed_searches() == []  # suggestions are not searches


def test_script_in_an_article_is_never_rendered() -> None:
    html = render("Hi <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=y>")
    assert "<script" not in html
    assert "href" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html  # shown as text, harmless


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("slug", "Not A Slug", "invalid_slug"),
        ("language", "de", "invalid_language"),
        ("product", "toaster", "invalid_product"),
        ("title", "", "missing_title"),
        ("body", "x" * 100_001, "body_too_long"),
        ("related", ["inspection-due"], "invalid_related"),
    ],
)
def test_a_bad_field_names_its_code(field: str, value: object, code: str) -> None:
    with pytest.raises(ValidationError) as error:
        draft(**{field: value})
    assert error.value.code == code


def test_a_failed_write_changes_nothing(kb: KnowledgeService, db: FakeDatabase) -> None:
    kb.write(draft(), "ana@staff")
    before = dict(db.state.articles)
    with pytest.raises(Conflict):
        kb.write(draft(), "ana@staff")
    assert db.state.articles == before
