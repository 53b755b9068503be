"""Search text analysis: folding, stems, snippets and edit distance (pure)."""

import pytest

from postroom.core.knowledge import analysis
from postroom.core.knowledge.model import Language
from postroom.core.knowledge.search import fts5_query, fts5_text, tsquery


def test_folding_drops_case_accents_and_ligatures() -> None:
    assert analysis.fold("Œuvre ÉCHUE Straße") == "oeuvre echue strasse"
    assert analysis.tokens("L'inspection, c'est dû!") == ["l", "inspection", "c", "est", "du"]


def test_each_language_has_its_stemmer() -> None:
    assert analysis.stems(["refunds", "refunding"], "en") == ["refund", "refund"]
    assert analysis.stems(["remboursements", "remboursement"], "fr") == ["rembours"] * 2


def test_query_words_leave_stop_words_out_unless_nothing_else_is_left() -> None:
    assert analysis.query_words("How do I reset my password?", "en") == ["reset", "password"]
    assert analysis.query_words("comment", "fr") == ["comment"]


def test_edit_distance_counts_a_swap_as_one() -> None:
    assert analysis.edit_distance("inspectoin", "inspection") == 1
    assert analysis.edit_distance("meter", "metre") == 1
    assert analysis.edit_distance("abc", "xyz", limit=1) == 2  # stops past the limit
    assert analysis.closest("refil", ["refill", "rebill", "profile"]) == "refill"
    assert analysis.closest("abc", ["abd"]) is None  # three letters: no typo allowed


def test_the_vocabulary_finds_the_nearest_word_among_those_of_a_length_it_may_have() -> None:
    spelling = analysis.Spelling(["meter", "metre", "meters", "inspection", "inspections"])
    assert "meter" in spelling
    assert "mete" not in spelling
    assert spelling.nearest("mteer") == "meter"  # a swap
    assert spelling.nearest("metee") == "meter"  # a tie with metre: the first in order
    assert spelling.nearest("inspectoins") == "inspections"
    assert spelling.nearest("inspxctoin") == "inspection"  # two typos from eight letters
    assert spelling.nearest("xyzzy") is None


def test_a_snippet_marks_matches_by_stem_and_escapes_the_rest() -> None:
    text = "Refunds <b>take</b> 60 days. A refund request lists the pieces."
    out = analysis.snippet(text, ["refunding"], "en", width=8)
    assert out.count("<mark>") == 2
    assert "&lt;b&gt;" in out
    assert "<b>" not in out


@pytest.mark.parametrize(
    ("text", "query", "marked"),
    [
        # folded in place: case and accents are found by the one pass
        ("L'échéance est ÉCHUE, la machine est bloquée.", ["echue"], ["ÉCHUE"]),
        ("Une Échéance, des échéances.", ["echeance"], ["Échéance", "échéances"]),
        # a ligature folds to two letters: the text is read word by word, alike
        ("Le cœur de l\u2019échéance : échue.", ["coeur", "echue"], ["cœur", "échue"]),
        ("Straße, Œuvre; œuvres!", ["oeuvre"], ["Œuvre", "œuvres"]),
        # a Latin-1 letter that folds to two (ß) sends a Latin-1 text word by word too
        ("La Straße est échue, échue.", ["echue"], ["échue", "échue"]),
        # a character beyond Latin-1 that is no letter (an apostrophe, U+2019) keeps
        # the one pass
        ("L\u2019échéance est échue\u2026 Échue !", ["echue"], ["échue", "Échue"]),
    ],
)
def test_a_snippet_ignores_case_accents_and_ligatures(
    text: str, query: list[str], marked: list[str]
) -> None:
    out = analysis.snippet(text, query, "fr")
    assert [part.split("</mark>")[0] for part in out.split("<mark>")[1:]] == marked


def test_a_long_text_is_cut_around_the_densest_run_of_matches() -> None:
    words = [f"w{i}" for i in range(100)]
    words[40] = words[44] = "refund"
    words[80] = "Refunds"
    out = analysis.snippet(" ".join(words), ["refund"], "en", width=10)
    # three words of context before the first of the densest run, ten words in all
    assert out == "… w37 w38 w39 <mark>refund</mark> w41 w42 w43 <mark>refund</mark> w45 w46 …"
    assert analysis.snippet("", ["refund"], "en") == ""
    assert (
        analysis.snippet("No match here.", ["refund"], "en") == "No match here"
    )  # to its last word


def test_query_text_has_no_operator_a_reader_could_inject() -> None:
    assert fts5_query(["meter", "or", "near"], Language.EN) == '"0meter" AND "0or" AND "0near"'
    assert fts5_query(["inspec"], Language.EN, prefix_last=True) == '"0inspec"*'
    assert fts5_query(["machine"], Language.FR) == '"1machin"'
    assert fts5_text("Meters, machines", Language.EN) == "0meter 0machin"
    assert tsquery(["meter", "refill"], any_word=True, prefix_last=True) == "meter | refill:*"
