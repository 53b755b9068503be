"""Knowledge-base search over generated articles: p50/p99 per query through
``pr.knowledge.search``, beside a raw full-text query of the same terms, in one run.

Run: python bench/bench_kb_search.py [--count 100000] [--queries 300]
         [--vocabulary zipf|shipped] [--database-url postgresql://...] [--reuse]
         (default: a new SQLite file)

Half the articles are English, half French, 60 to 160 words each with a 4 to 9 word
title. ``zipf`` (the default) draws them from 30,000 words a language with Zipf
frequencies — the shipped articles' words first, made-up words for the long tail — the
shape of a real base; ``shipped`` draws from the shipped articles' 700-odd words alone
(the first runs' generator, kept to compare). They are loaded in bulk through the
search index port (the service's per-article transactions would take most of the run),
then every query runs twice: through the use case (stop words dropped, typo check
against the vocabulary, stems, ranking, the articles read back and a highlighted
snippet made for each of ten hits; not recorded as a search), and as the bare ranked
FTS query in the same shape (the first ``RANKED_MATCHES`` matches ranked: SQLite FTS5
MATCH + bm25, or PostgreSQL @@ + ts_rank_cd) returning ten ids. A PostgreSQL URL must
name a database of its own, empty or filled by an earlier run with ``--reuse``.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import attrs
import sqlalchemy as sa

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.knowledge import analysis, markdown_files
from postroom.core.knowledge.model import Language, plain_text
from postroom.core.knowledge.ports import IndexEntry
from postroom.core.knowledge.search import RANKED_MATCHES, fts5_query, index_on, tsquery
from postroom.core.knowledge.store import knowledge_articles

PRODUCTS = ("meters", "software", "shipping", "billing")
TOPICS = ("inspections", "postage", "refunds", "connection", "tracking", "payments")
BATCH = 2000


@attrs.frozen
class Vocabulary:
    """The words articles and queries are drawn from, per language, with their weights
    (cumulative, for ``random.choices``; None: every entry alike)."""

    words: dict[Language, list[str]]
    weights: dict[Language, list[float] | None]

    def draw(self, rng: random.Random, language: Language, k: int) -> list[str]:
        return rng.choices(self.words[language], cum_weights=self.weights[language], k=k)

    def query_words(self, rng: random.Random, language: Language, k: int) -> list[str]:
        """``k`` different words of more than four letters, as often as they are written."""
        picked: list[str] = []
        while len(picked) < k:
            word = self.draw(rng, language, 1)[0]
            if len(word) > 4 and word not in picked:
                picked.append(word)
        return picked


def shipped_words() -> dict[Language, list[str]]:
    """The words of the shipped articles' bodies, each as often as it is written."""
    words: dict[Language, list[str]] = {Language.EN: [], Language.FR: []}
    for name, text in markdown_files.shipped_articles():
        draft, _ = markdown_files.parse(text, name)
        words[draft.language] += [w for w in draft.body.split() if w.isalpha() and len(w) > 2]
    return words


def shipped_vocabulary() -> Vocabulary:
    """The first generator: the shipped articles' words alone (about 700 different ones
    per language), so that a content word is in a large share of the articles."""
    return Vocabulary(shipped_words(), {Language.EN: None, Language.FR: None})


_SYLLABLES = {
    Language.EN: ("ba", "con", "de", "fer", "gal", "in", "ker", "lo", "mar", "nu", "or",
                  "pre", "quin", "ro", "sta", "tur", "ven", "wil", "xe", "yor", "zen"),
    Language.FR: ("ba", "ché", "cou", "dé", "en", "fro", "gui", "jo", "lai", "mè", "noi",
                  "ou", "pré", "quê", "ri", "sau", "teu", "vé", "roi", "zé", "tion"),
}  # fmt: skip


def zipf_vocabulary(size: int = 30_000, rng: random.Random | None = None) -> Vocabulary:
    """A real base's shape: ``size`` words per language whose frequencies follow Zipf's
    law (the word of rank r is written in proportion to 1/r) — the shipped articles'
    words first, by how often they are written, then made-up words of two to four
    syllables for the long tail of names, models and rarer terms."""
    rng = rng or random.Random(30)
    words, weights = {}, {}
    for language, written in shipped_words().items():
        counts = Counter(w.lower() for w in written)
        ranked = [w for w, _ in counts.most_common()]
        seen = set(ranked)
        while len(ranked) < size:
            word = "".join(rng.choices(_SYLLABLES[language], k=rng.randint(2, 4)))
            if word not in seen:
                seen.add(word)
                ranked.append(word)
        words[language] = ranked
        weights[language] = list(itertools.accumulate(1 / rank for rank in range(1, size + 1)))
    return Vocabulary(words, weights)


def generate(pr: Postroom, count: int, rng: random.Random, words: Vocabulary) -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    made = 0
    while made < count:
        size = min(BATCH, count - made)

        def work(uow, size: int = size, start: int = made) -> None:
            rows, entries = [], []
            for i in range(start, start + size):
                language = Language.EN if i % 2 == 0 else Language.FR
                title = " ".join(words.draw(rng, language, rng.randint(4, 9))).capitalize()
                body = " ".join(words.draw(rng, language, rng.randint(60, 160)))
                rows.append(
                    {
                        "family": f"bench-{i // 2}",
                        "slug": f"bench-{i}",
                        "language": language.value,
                        "title": title,
                        "body": body,
                        "product": PRODUCTS[i % 4],
                        "topic": TOPICS[i % 6],
                        "status": "published",
                        "author": "bench",
                        "version": 1,
                        "related": "",
                        "created_at": now,
                        "updated_at": now,
                        "published_at": now,
                        "text": plain_text(body),
                    }
                )
            uow.connection.execute(sa.insert(knowledge_articles), rows)
            ids = dict(
                uow.connection.execute(
                    sa.select(knowledge_articles.c.slug, knowledge_articles.c.id).where(
                        knowledge_articles.c.slug.in_([r["slug"] for r in rows])
                    )
                ).all()
            )
            index = index_on(uow.connection)
            for row in rows:
                entries.append(
                    IndexEntry(
                        ids[row["slug"]],
                        Language(row["language"]),
                        row["product"],
                        row["topic"],
                        row["title"],
                        row["body"],
                    )
                )
            index.put(entries)
            uow.commit()

        pr.db.run(work)
        made += size
        print(f"\r  loaded {made:,} articles", end="", flush=True)
    print()


def generated(pr: Postroom) -> int:
    with pr.db.engine.connect() as c:
        return int(
            c.execute(
                sa.select(sa.func.count()).where(knowledge_articles.c.slug.like("bench-%"))
            ).scalar_one()
        )


def queries(rng: random.Random, count: int, words: Vocabulary) -> list[tuple[str, Language]]:
    """What people type: one to three content words (some with a typo), per language."""
    out = []
    for i in range(count):
        language = Language.EN if i % 2 == 0 else Language.FR
        picked = words.query_words(rng, language, rng.randint(1, 3))
        if i % 10 == 0:  # a swapped pair of letters, for the typo path
            w = picked[0]
            picked[0] = w[:2] + w[3] + w[2] + w[4:]
        out.append((" ".join(picked), language))
    return out


def raw_query(pr: Postroom, *, else_any: bool = False) -> Callable[[str, Language], int]:
    """The bare ranked full-text query of the same words, ten ids, in the use case's
    shape: the first ``RANKED_MATCHES`` matches ranked, the best ten kept. With
    ``else_any``, the search's own rule in raw SQL: when the words never meet in one
    article, a second ranked query of any of them (what the use case answers then)."""
    ranked = _ranked_postgres(pr) if pr.db.dialect == "postgresql" else _ranked_sqlite(pr)

    def run(text: str, language: Language) -> int:
        words = analysis.query_words(text, language.value)
        found = ranked(words, language, False)
        if found or not else_any or len(words) < 2:
            return found
        return ranked(words, language, True)

    return run


def _ranked_postgres(pr: Postroom) -> Callable[[list[str], Language, bool], int]:
    config = {Language.EN: "english", Language.FR: "french"}
    sql = sa.text(
        "SELECT article_id FROM (SELECT article_id, document, q FROM knowledge_search,"
        " to_tsquery(CAST(:c AS regconfig), :q) q WHERE document @@ q AND language = :l"
        " LIMIT :n) c ORDER BY ts_rank_cd(document, q) DESC LIMIT 10"
    )

    def ranked(words: list[str], language: Language, any_word: bool) -> int:
        params = {
            "c": config[language],
            "q": tsquery(words, any_word=any_word),
            "l": language.value,
            "n": RANKED_MATCHES,
        }
        with pr.db.engine.connect() as c:
            return len(c.execute(sql, params).all())

    return ranked


def _ranked_sqlite(pr: Postroom) -> Callable[[list[str], Language, bool], int]:
    sql = sa.text(
        "SELECT rowid FROM (SELECT rowid, bm25(knowledge_fts, 4.0, 1.0, 0.0) AS r"
        " FROM knowledge_fts WHERE knowledge_fts MATCH :m ORDER BY rowid DESC LIMIT :n)"
        " ORDER BY r LIMIT 10"
    )

    def ranked(words: list[str], language: Language, any_word: bool) -> int:
        match = fts5_query(words, language, any_word=any_word)
        if not match:  # stop words only: the use case does not query either
            return 0
        with pr.db.engine.connect() as c:
            return len(c.execute(sql, {"m": match, "n": RANKED_MATCHES}).all())

    return ranked


def measure_side_by_side(
    works: list[Callable[[str, Language], object]], asked: list[tuple[str, Language]]
) -> list[list[float]]:
    """Each query through every one of ``works``, one right after the other, the one that
    goes first turning: all meet the same caches, the same load and the same moment of
    the run (timed one pass after the other, a later pass found the pages an earlier one
    had read and ran at another moment of a shared machine's load)."""
    for text, language in asked[:10]:  # warm the caches and the prepared statements
        for work in works:
            work(text, language)
    times: list[list[float]] = [[] for _ in works]
    turns = list(zip(works, times, strict=True))
    for n, (text, language) in enumerate(asked):
        first = n % len(turns)
        for work, spent in turns[first:] + turns[:first]:
            start = time.perf_counter()
            work(text, language)
            spent.append((time.perf_counter() - start) * 1000)
    return times


def report(label: str, times: list[float]) -> float:
    """Print and return the p50 of ``times`` (ms), with their p99 and rate."""
    times = sorted(times)
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    rate = len(times) / (sum(times) / 1000)
    print(f"  {label:<34} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   {rate:8.0f} q/s")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--vocabulary",
        choices=("zipf", "shipped"),
        default="zipf",
        help="zipf: 30,000 words a language with Zipf frequencies (like a real base); "
        "shipped: the shipped articles' 700 words alone (the first runs' generator)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the articles a previous run left in --database-url (same --count)",
    )
    args = parser.parse_args()
    rng = random.Random(15)
    words = zipf_vocabulary() if args.vocabulary == "zipf" else shipped_vocabulary()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'kb.db'}"
        config = Config.load({}, data_dir=Path(folder), database_url=url, secret_key="bench")
        with Postroom.open(config=config, migrate_schema=True) as pr:
            if args.reuse and generated(pr) == args.count:
                print(f"{pr.db.dialect}: reusing {args.count:,} generated articles")
            else:
                print(f"{pr.db.dialect}: generating {args.count:,} articles")
                start = time.perf_counter()
                generate(pr, args.count, rng, words)
                print(f"  loaded in {time.perf_counter() - start:.0f} s")
            # their own generator: the same queries whether the base was made now or not
            asked = queries(random.Random(16), args.queries, words)
            search = pr.knowledge.search

            def use_case(text: str, language: Language) -> object:
                return search(text, language, limit=10, record=False)

            ours, raw, raw_else_any = measure_side_by_side(
                [use_case, raw_query(pr), raw_query(pr, else_any=True)], asked
            )
            ours_p50 = report("pr.knowledge.search (10 hits)", ours)
            raw_p50 = report("raw ranked FTS query (10 ids)", raw)
            else_any_p50 = report("raw, all words else any (10 ids)", raw_else_any)
            print(
                f"  use case / raw at p50: {raw_p50 / ours_p50:.2f} x the raw query's speed;"
                f" {else_any_p50 / ours_p50:.2f} x the raw all-words-else-any queries'"
            )


if __name__ == "__main__":
    main()
