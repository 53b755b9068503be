"""The knowledge base on a real store (SQLite FTS5, or PostgreSQL full-text search
with POSTROOM_TEST_DATABASE_URL), its shipped articles and ``postroom kb``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import ValidationError
from postroom.core.knowledge import markdown_files
from postroom.core.knowledge.model import Language, Status, make_draft, plain_text
from postroom.core.knowledge.store import knowledge_articles
from postroom.frontends.cli import cli


@pytest.fixture
def shipped(shipped_articles: Postroom) -> Postroom:
    return shipped_articles


def test_at_least_forty_articles_ship_in_english_and_in_french(shipped: Postroom) -> None:
    english = shipped.knowledge.list(language="en")
    french = shipped.knowledge.list(language="fr")
    assert len(english) >= 40
    assert {a.family for a in english} == {a.family for a in french}
    for article in english:
        assert len(article.text.split()) >= 60, article.slug  # real text, not a stub
        assert shipped.knowledge.related(article), article.slug  # every related exists


@pytest.mark.parametrize(
    ("query", "language", "expected"),
    [
        ("meter locked", "en", "meter-locked"),
        ("machine bloquée", "fr", "machine-bloquee"),
        ("MACHINE BLOQUEE", "fr", "machine-bloquee"),
        ("60 day refund", "en", "refund-60-day-rule"),
        ("règle des 60 jours", "fr", "regle-des-60-jours"),
        ("control sum", "en", "registers-explained"),
        ("somme de contrôle registres", "fr", "registres-expliques"),
        ("passwrod reset", "en", "password-reset"),
        ("réinitialiser mot de passe", "fr", "reinitialiser-mot-de-passe"),
        ("SEPA direct debit", "en", "direct-debit"),
        ("installation address", "en", "change-installation-address"),
    ],
)
def test_the_shipped_base_answers_what_customers_ask(
    shipped: Postroom, query: str, language: str, expected: str
) -> None:
    hits = shipped.knowledge.search(query, language, limit=3).hits
    assert expected in [h.article.slug for h in hits[:3]], [h.article.slug for h in hits]
    assert "<mark>" in hits[0].snippet


def test_search_ranks_the_title_first_and_keeps_languages_apart(shipped: Postroom) -> None:
    hits = shipped.knowledge.search("inspection", "en").hits
    assert hits[0].article.slug in {"inspection-due", "inspection-reminders"}
    assert all(h.article.language == Language.EN for h in hits)
    assert hits == tuple(sorted(hits, key=lambda h: -h.score))


def test_a_search_can_keep_to_one_product_and_topic(shipped: Postroom) -> None:
    kb = shipped.knowledge
    everywhere = kb.search("meter", "en", limit=50).hits
    assert {h.article.product.value for h in everywhere} > {"meters"}
    hits = kb.search("meter", "en", limit=50, product="meters", topic="inspections").hits
    assert hits
    assert {(h.article.product.value, h.article.topic) for h in hits} == {("meters", "inspections")}
    assert {h.article.slug for h in hits} < {h.article.slug for h in everywhere}
    assert kb.search("meter", "en", product="billing", topic="inspections").hits == ()


def test_words_that_never_meet_find_the_articles_of_any_of_them(shipped: Postroom) -> None:
    # One statement decides between all the words and any of them (the second ranked
    # query runs only when the first found nothing).
    kb = shipped.knowledge
    together = kb.search("meter locked", "en")
    assert together.matched_all
    assert together.hits
    first = together.hits[0].article
    assert first == kb.get(first.slug)  # built from the search's row as the store builds it
    assert first.created_at.tzinfo is not None
    alone = kb.search("inspection", "en")
    # "qzx": in no article, and too short for a typo correction
    apart = kb.search("inspection qzx", "en")
    assert not apart.matched_all
    assert [h.article.slug for h in apart.hits] == [h.article.slug for h in alone.hits]
    assert "<mark>" in apart.hits[0].snippet
    kept = kb.search("meter qzx", "en", limit=50, product="meters", topic="inspections")
    assert kept.hits
    assert not kept.matched_all
    assert {(h.article.product.value, h.article.topic) for h in kept.hits} == {
        ("meters", "inspections")
    }
    nowhere = kb.search("qzx qzy", "en")
    assert nowhere.hits == ()
    assert not nowhere.matched_all


def test_a_typo_in_a_short_query_is_forgiven(shipped: Postroom) -> None:
    result = shipped.knowledge.search("inspektion", "en")
    assert result.corrected == "inspection"
    assert result.hits


def test_search_words_cannot_inject_operators(shipped: Postroom) -> None:
    for query in ('"meter', "meter OR", "NEAR(a b)", "a:*", "refund & | ! (", "'; DROP TABLE"):
        shipped.knowledge.search(query, "en")  # no error, whatever it finds


def test_an_edit_is_searchable_at_once_and_an_archived_article_is_gone(
    shipped: Postroom, clock: FrozenClock
) -> None:
    kb = shipped.knowledge
    article = kb.get("order-ink")
    draft = make_draft(
        family=article.family,
        slug=article.slug,
        language="en",
        title=article.title,
        body=article.body + "\n\nCartridges ship with a zebra-striped seal.",
        product="meters",
        topic="supplies",
        related=list(article.related),
    )
    assert kb.edit("order-ink", draft, "ana@staff").version == 2
    hits = kb.search("zebra striped", "en").hits
    assert [h.article.slug for h in hits] == ["order-ink"]
    assert "<mark>zebra</mark>-<mark>striped</mark> seal" in hits[0].snippet  # the new text
    assert [v.version for v in kb.versions("order-ink")] == [1]
    kb.archive("order-ink")
    assert kb.search("zebra striped", "en").hits == ()
    assert kb.get("order-ink", staff=True).status == Status.ARCHIVED


def test_each_article_keeps_its_plain_text_which_the_search_reads_back(
    shipped: Postroom,
) -> None:
    articles = knowledge_articles
    with shipped.db.engine.connect() as connection:
        kept = dict(connection.execute(sa.select(articles.c.slug, articles.c.text)).all())
    article = shipped.knowledge.get("meter-locked")
    assert kept["meter-locked"] == plain_text(article.body)
    assert "## The inspection" in article.body
    assert "## " not in kept["meter-locked"]  # no markup: the words alone
    [hit, *_] = shipped.knowledge.search("meter locked", "en").hits
    assert hit.article.text == kept[hit.article.slug]  # read with the hit, not rendered


def test_reports_count_missed_searches_votes_and_deflection(shipped: Postroom) -> None:
    kb = shipped.knowledge
    kb.search("fax machine", "en")
    kb.search("Fax  machine", "en")
    kb.vote("meter-locked", "voter-a", True)
    kb.vote("meter-locked", "voter-b", False)
    kb.vote("meter-locked", "voter-a", False)
    token = kb.new_deflection_token()
    kb.note_read(token, "meter-locked")
    kb.note_read(kb.new_deflection_token(), "inspection-due")
    kb.note_case_opened(token, "CS-1")
    [missed] = kb.missed_searches()
    assert (missed.query, missed.count) == ("fax machine", 2)
    [votes] = kb.votes()
    assert (votes.slug, votes.helpful, votes.not_helpful) == ("meter-locked", 0, 2)
    report = kb.deflection()
    assert (report.read, report.deflected) == (2, 1)


def test_a_file_without_front_matter_names_itself() -> None:
    with pytest.raises(ValidationError) as error:
        markdown_files.parse("# just a title\n", "notes.md")
    assert error.value.code == "invalid_front_matter"
    assert "notes.md" in error.value.message


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.output) if "--json" in args and code == 0 else result.output


def test_kb_import_export_round_trip(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "articles"
    (source / "en").mkdir(parents=True)
    (source / "en" / "scale.md").write_text(
        "---\nfamily: scale-zero\nslug: scale-zero\nlanguage: en\ntitle: Zero the scale\n"
        "product: shipping\ntopic: scales\nstatus: draft\n---\n"
        "Press **tare** <script>x</script>.\n",
        encoding="utf-8",
    )
    [row] = run(runner, "kb", "import", str(source), "--json")
    assert row["outcome"] == "created"
    assert run(runner, "kb", "list", "--status", "published", "--json") == []
    [published] = run(runner, "kb", "publish", "scale-zero", "--json")
    assert published["status"] == "published"
    shown = run(runner, "kb", "show", "scale-zero", "--json")
    assert "<script>" not in shown["html"]
    assert "<strong>tare</strong>" in shown["html"]
    out = tmp_path / "out"
    run(runner, "kb", "export", str(out), "--json")
    exported = (out / "en" / "scale-zero.md").read_text(encoding="utf-8")
    assert "status: published" in exported
    [again] = run(runner, "kb", "import", str(out), "--json")
    assert again["outcome"] == "unchanged"


def test_kb_import_writes_all_its_articles_or_none(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "articles"
    source.mkdir()
    head = "---\nfamily: scale-zero\nslug: {slug}\nlanguage: en\ntitle: Zero the scale\n"
    tail = "product: shipping\ntopic: scales\nstatus: published\n---\nPress tare.\n"
    # the second is a second English text of the same family: refused when written
    for name, slug in (("a.md", "scale-zero"), ("b.md", "scale-zero-again")):
        (source / name).write_text(head.format(slug=slug) + tail, encoding="utf-8")
    output = run(runner, "kb", "import", str(source), code=1)
    assert "translation_exists" in output or "has a en text" in output
    assert "Traceback" not in output
    assert run(runner, "kb", "list", "--status", "all", "--json") == []
    (source / "b.md").unlink()
    [row] = run(runner, "kb", "import", str(source), "--json")
    assert (row["slug"], row["outcome"]) == ("scale-zero", "created")


def test_kb_refuses_bad_files_and_unknown_articles(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("---\nslug: x\n---\nbody", encoding="utf-8")
    output = run(runner, "kb", "import", str(bad), code=1)
    assert "invalid_front_matter" in output or "front matter" in output
    assert "Traceback" not in output
    output = run(runner, "kb", "show", "no-such-article", code=1)
    assert "no article" in output
