"""Text analysis for search, pure and shared by both search backends: folding (case,
accents and ligatures ignored), tokens, stop words, a Snowball stemmer per language,
highlighted snippets and the edit distance behind typo tolerance."""

from __future__ import annotations

import html
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

_TOKEN = re.compile(r"[a-z0-9]+")
_WORD = re.compile(r"\w+", re.UNICODE)
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})

#: Words too common to rank on (folded: no accents). Short, on purpose: a question
#: word like "how" or "comment" carries no topic.
STOP_WORDS = {
    "en": frozenset(
        [
            "a",
            "an",
            "and",
            "are",
            "as",
            "at",
            "be",
            "by",
            "can",
            "do",
            "does",
            "for",
            "from",
            "how",
            "i",
            "if",
            "in",
            "is",
            "it",
            "my",
            "me",
            "of",
            "on",
            "or",
            "the",
            "to",
            "please",
            "what",
            "when",
            "where",
            "which",
            "who",
            "why",
            "will",
            "with",
            "you",
            "your",
            "our",
            "we",
            "this",
            "that",
        ]
    ),
    "fr": frozenset(
        [
            "a",
            "au",
            "aux",
            "avec",
            "ce",
            "ces",
            "comment",
            "dans",
            "de",
            "des",
            "du",
            "en",
            "est",
            "et",
            "il",
            "je",
            "la",
            "le",
            "les",
            "leur",
            "ma",
            "mon",
            "ne",
            "nous",
            "on",
            "ou",
            "par",
            "pas",
            "pour",
            "quand",
            "que",
            "quel",
            "quelle",
            "qui",
            "sa",
            "se",
            "son",
            "sur",
            "un",
            "une",
            "vos",
            "votre",
            "svp",
            "l",
            "d",
            "j",
            "qu",
            "n",
            "s",
            "c",
            "y",
            "est-ce",
        ]
    ),
}
_STEMMER_NAMES = {"en": "english", "fr": "french"}


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Latin letters with accents, mapped once to their bare letters: folding a whole article
# is then one translate, and only other scripts take the slow path.
_LATIN = str.maketrans({chr(c): _strip_marks(chr(c)) for c in range(0xC0, 0x250)})


def fold(text: str) -> str:
    """``text`` lower-cased, without accents or ligatures: "Œuvre Éléphant" → "oeuvre
    elephant"."""
    quick = text.translate(_LATIN)
    return (quick if quick.isascii() else _strip_marks(quick)).lower()


def tokens(text: str) -> list[str]:
    """The folded words of ``text`` (letters and digits)."""
    return _TOKEN.findall(fold(text))


@lru_cache(maxsize=4)
def _stemmer(language: str) -> snowballstemmer.Stemmer:
    return snowballstemmer.stemmer(_STEMMER_NAMES[language])


@lru_cache(maxsize=200_000)
def _stem(language: str, word: str) -> str:
    # The Snowball stemmers are pure Python (about 0.1 ms a word); a language's words
    # repeat, so each is stemmed once per process.
    return str(_stemmer(language).stemWord(word))


@lru_cache(maxsize=200_000)
def _fold_word(word: str) -> str:
    """A word as written (any case, accents) folded, for snippets."""
    return fold(word)


def stems(words: Iterable[str], language: str) -> list[str]:
    """The Snowball stems of folded ``words`` in ``language`` (en or fr)."""
    return [_stem(language, word) for word in words]


def index_text(text: str, language: str) -> str:
    """What the SQLite index holds for ``text``: its stems, space-separated (FTS5's own
    porter stemmer knows only English)."""
    return " ".join(stems(tokens(text), language))


def query_words(text: str, language: str) -> list[str]:
    """The folded words of a query that are worth searching: no stop words, no repeats
    (a query of stop words only keeps them, so "how to" still finds something)."""
    words = tokens(text)
    kept = [w for w in words if w not in STOP_WORDS[language]] or words
    return list(dict.fromkeys(kept))


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Optimal string alignment distance (insertions, deletions, substitutions and
    swaps of two neighbours), or ``limit`` + 1 once it is certainly above ``limit``."""
    return int(OSA.distance(a, b, score_cutoff=limit))


def allowed_typos(word: str) -> int:
    """How many edits a word of this length may carry and still be recognised."""
    if len(word) < 4:
        return 0
    return 1 if len(word) < 8 else 2


def closest(word: str, vocabulary: Iterable[str]) -> str | None:
    """The vocabulary word nearest to ``word`` within its allowed typos (ties: the
    alphabetically first), or None."""
    limit = allowed_typos(word)
    # (rapidfuzz's stubs type a scorer as a float similarity; a distance works the same)
    near = process.extract(
        word,
        vocabulary,
        scorer=OSA.distance,  # type: ignore[arg-type]
        score_cutoff=limit,
        limit=None,
    )
    return min(((int(distance), found) for found, distance, _ in near), default=(0, None))[1]


class Spelling:
    """A language's known words grouped by length, so that the nearest one to a typo
    is looked for only among the words of a length it may have (a few thousand of a
    large vocabulary), by rapidfuzz's compiled edit distance."""

    def __init__(self, words: Iterable[str]) -> None:
        self._words = set(words)
        by_length: dict[int, list[str]] = {}
        for word in sorted(self._words):
            by_length.setdefault(len(word), []).append(word)
        self._by_length = by_length

    def __contains__(self, word: object) -> bool:
        return word in self._words

    def nearest(self, word: str) -> str | None:
        typos = allowed_typos(word)
        band: list[str] = []
        for length in range(len(word) - typos, len(word) + typos + 1):
            band += self._by_length.get(length, ())
        return closest(word, band)


#: How far into an article a snippet looks for matches (words): past that, the cost of
#: a snippet would grow with the article rather than stay that of a few lines.
SNIPPET_SCOPE = 1500


def _latin1_folds() -> dict[str, str]:
    """The letters and digits of Latin-1 (ASCII's and the accented ones) that fold to
    one ASCII letter or digit: "É" → "e"."""
    folds = {}
    for code in range(0x100):
        written = chr(code)
        folded = fold(written)
        if len(folded) == 1 and _TOKEN.fullmatch(folded) and _WORD.fullmatch(written):
            folds[written] = folded
    return folds


_FOLDS = _latin1_folds()
#: A letter or digit outside the above (œ, ß, other scripts...): a text that has one is
#: read word by word; the others are folded in place (one byte a character) and
#: searched by one regular expression.
_OTHER_LETTER = re.compile("[^\\W_" + re.escape("".join(_FOLDS)) + "]")
_BYTE_FOLDS = bytes.maketrans(
    "".join(_FOLDS).encode("latin-1"), "".join(_FOLDS.values()).encode("latin-1")
)
#: Every byte but those of ``_OTHER_LETTER``'s Latin-1 letters (ª, µ, ß, æ...): what
#: ``bytes.translate`` deletes from a Latin-1 text to find whether it has one, in one
#: pass in C where the regular expression took a fifth of a French snippet.
_ALL_BUT_OTHER_LATIN1 = bytes(
    code for code in range(0x100) if not _OTHER_LETTER.fullmatch(chr(code))
)
#: A text folded in place, as its words' outline: "a" for a word's character, " " for
#: any other; each " a" (after a leading " ") is where a word starts, so that words
#: are counted by ``bytes.count`` rather than one by one.
_OUTLINE = bytes(
    ord("a") if re.fullmatch(rb"\w", bytes([code])) else ord(" ") for code in range(0x100)
)
_WORD_STARTS = b" a"
_OUTSIDE_WORDS = ord(" ")
#: A word of a text folded in place: ASCII letters, digits and _ (``_WORD``'s words).
_FOLDED_WORD = re.compile(rb"\w+")
#: One word's match: its position among the words, where it starts and ends.
_Match = tuple[int, int, int]


def snippet(text: str, words: Sequence[str], language: str, width: int = 30) -> str:
    """An HTML excerpt of plain ``text`` around the densest run of the query's
    ``words`` (matched by stem, so "refunds" lights up "refund"), each match in
    <mark>; everything else escaped. ``width`` is in words."""
    wanted = _wanted(tuple(words), language)
    try:
        latin1 = text.encode("latin-1")
    except UnicodeEncodeError:  # a character beyond Latin-1: a letter of another script?
        if _OTHER_LETTER.search(text):
            return _snippet_word_by_word(text, wanted, language, width)
        latin1 = text.encode("latin-1", "replace")
    else:
        if latin1.translate(None, _ALL_BUT_OTHER_LATIN1):  # a Latin-1 letter such as ß
            return _snippet_word_by_word(text, wanted, language, width)
    # Folded in place (one byte a character, anything else "?"), the text keeps its
    # offsets and its words. A stem keeps the start of its word: one regular expression
    # finds the words that begin like a wanted stem, and only those are stemmed; the
    # words in between are counted on the text's outline.
    folded = latin1.translate(_BYTE_FOLDS)
    outline = b" " + folded.translate(_OUTLINE)  # outline[i + 1] is folded[i]'s
    total = min(outline.count(_WORD_STARTS), SNIPPET_SCOPE)
    if not total:
        return ""
    hits: list[_Match] = []
    position = counted = 0
    for begins in _beginnings(folded, outline, wanted):
        # the words that start before this one (a word starts at i where " a" is),
        # counted on from the last one's start
        position += outline.count(_WORD_STARTS, counted, begins + 1)
        counted = begins
        if position >= SNIPPET_SCOPE:
            break
        word = _FOLDED_WORD.match(folded, begins)
        assert word is not None  # a word starts there
        if _stem(language, word.group().decode("ascii")) in wanted:
            hits.append((position, begins, word.end()))
    if hits:
        best = _densest([i for i, _, _ in hits], width)
        start = max(0, best - 3)
        begins = next(h[1] for h in hits if h[0] == best)
        for _ in range(best - start):  # back to the start of word ``start``
            begins = outline.rfind(_WORD_STARTS, 0, begins + 1)
    else:
        start, begins = 0, outline.find(_WORD_STARTS)
    length = min(total, start + width) - start
    words_in_excerpt = _words_in_a_row(length).match(folded, begins)
    assert words_in_excerpt is not None  # there are that many words from there
    return _excerpt(text, hits, start, length, (begins, words_in_excerpt.end()), total)


def _excerpt(
    text: str,
    hits: Sequence[_Match],
    start: int,
    length: int,
    span: tuple[int, int],
    total: int,
) -> str:
    """The ``length`` words of ``text`` from word ``start`` (``span``: where they
    begin and end) with the hits among them marked; ``total``: how many words the text
    has (within scope)."""
    end = start + length
    out: list[str] = ["… " if start > 0 else ""]
    cursor, ends = span
    for i, match_begins, match_ends in hits:  # the text between matches in one piece
        if start <= i < end:
            out.append(html.escape(text[cursor:match_begins]))
            out.append(f"<mark>{html.escape(text[match_begins:match_ends])}</mark>")
            cursor = match_ends
    out.append(html.escape(text[cursor:ends]))
    if end < total or total == SNIPPET_SCOPE:
        out.append(" …")
    return "".join(out).strip()


def _snippet_word_by_word(text: str, wanted: frozenset[str], language: str, width: int) -> str:
    """``snippet`` for a text with letters that do not fold to one: each word folded
    on its own."""
    spans = list(itertools.islice(_WORD.finditer(text), SNIPPET_SCOPE))
    if not spans:
        return ""
    beginnings = tuple({stem[:4] for stem in wanted})
    hits = []
    for i, span in enumerate(spans):
        word = _fold_word(span.group())
        if word.startswith(beginnings) and _stem(language, word) in wanted:
            hits.append((i, span.start(), span.end()))
    start = max(0, _densest([i for i, _, _ in hits], width) - 3) if hits else 0
    length = min(len(spans), start + width) - start
    excerpt = (spans[start].start(), spans[start + length - 1].end())
    return _excerpt(text, hits, start, length, excerpt, len(spans))


@lru_cache(maxsize=256)
def _wanted(words: tuple[str, ...], language: str) -> frozenset[str]:
    """The stems a snippet marks (the same for each of a search's hits)."""
    return frozenset(stems(words, language)) - {""}


@lru_cache(maxsize=64)
def _words_in_a_row(count: int) -> re.Pattern[bytes]:
    """``count`` words in a row of a folded text, from the first's start to the last's end."""
    return re.compile(rb"\w+(?:\W+\w+){%d}" % (count - 1))


def _beginnings(folded: bytes, outline: bytes, wanted: frozenset[str]) -> list[int]:
    """Where the words of a ``folded`` text that begin like a ``wanted`` stem start, in
    order (``bytes.find`` for each stem's start: no pattern to compile per query)."""
    found = set()
    for beginning in {stem[:4].encode("ascii") for stem in wanted}:
        at = folded.find(beginning)
        while at >= 0:
            if outline[at] == _OUTSIDE_WORDS:  # the character before is no word's
                found.add(at)
            at = folded.find(beginning, at + 1)
    return sorted(found)


def _densest(hits: Sequence[int], width: int) -> int:
    """The position in sorted ``hits`` that starts the window of ``width`` words holding
    the most of them (the first such), by two pointers: linear in the hits."""
    best, best_count, last = hits[0], 0, 0
    for first, position in enumerate(hits):
        last = max(last, first)
        while last + 1 < len(hits) and hits[last + 1] < position + width:
            last += 1
        if last - first + 1 > best_count:
            best, best_count = position, last - first + 1
    return best
