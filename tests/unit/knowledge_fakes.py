"""In-memory fakes of what the knowledge use cases depend on: the transactions (rolled
back unless committed), the article repository and the search index. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs
from fakes_transactions import StateDatabase

from postroom.core.knowledge import analysis
from postroom.core.knowledge.model import (
    Article,
    DeflectionReport,
    Language,
    MissedSearch,
    Product,
    Status,
    Version,
    VoteCount,
)
from postroom.core.knowledge.ports import Found, IndexEntry


@attrs.define
class State:
    articles: dict[int, Article] = attrs.field(factory=dict)
    versions: list[Version] = attrs.field(factory=list)
    index: dict[int, IndexEntry] = attrs.field(factory=dict)
    votes: dict[tuple[int, str], bool] = attrs.field(factory=dict)
    searches: list[tuple[str, Language, int, datetime]] = attrs.field(factory=list)
    reads: set[tuple[str, int]] = attrs.field(factory=set)
    cases: dict[str, str] = attrs.field(factory=dict)
    #: the live chat's conversations and messages (test_chat_use_cases.FakeChats)
    chats: dict[str, list[Any]] = attrs.field(factory=lambda: {"conversations": [], "messages": []})


class FakeDatabase(StateDatabase[State]):
    dialect = "fake"

    def __init__(self) -> None:
        super().__init__(State())


@attrs.define
class FakeArticles:
    db: FakeDatabase

    @property
    def _s(self) -> State:
        return self.db.state

    def add(self, article: Article) -> Article:
        stored = attrs.evolve(article, id=len(self._s.articles) + 1)
        self._s.articles[stored.id] = stored
        return attrs.evolve(stored)

    def update(self, article: Article) -> None:
        self._s.articles[article.id] = attrs.evolve(article)

    def by_slug(self, slug: str) -> Article | None:
        found = [a for a in self._s.articles.values() if a.slug == slug]
        return attrs.evolve(found[0]) if found else None

    def by_ids(self, ids: Iterable[int]) -> dict[int, Article]:
        return {i: attrs.evolve(self._s.articles[i]) for i in ids if i in self._s.articles}

    def of_family(self, family: str) -> list[Article]:
        return sorted(
            (a for a in self._s.articles.values() if a.family == family),
            key=lambda a: a.language.value,
        )

    def in_families(self, families: Iterable[str], language: Language) -> list[Article]:
        by_family = {a.family: a for a in self._s.articles.values() if a.language == language}
        return [by_family[f] for f in families if f in by_family]

    def browse(
        self,
        *,
        language: Language | None = None,
        status: Status | None = None,
        product: Product | None = None,
        topic: str | None = None,
    ) -> list[Article]:
        return sorted(
            (
                a
                for a in self._s.articles.values()
                if (language is None or a.language == language)
                and (status is None or a.status == status)
                and (product is None or a.product == product)
                and (topic is None or a.topic == topic)
            ),
            key=lambda a: (a.product.value, a.topic, a.title, a.id),
        )

    def add_version(self, version: Version) -> None:
        self._s.versions.append(version)

    def versions(self, article_id: int) -> list[Version]:
        return sorted(
            (v for v in self._s.versions if v.article_id == article_id),
            key=lambda v: -v.version,
        )

    def vote(self, article_id: int, voter: str, helpful: bool, at: datetime) -> None:
        self._s.votes[(article_id, voter)] = helpful

    def votes(self) -> list[VoteCount]:
        counts: dict[int, list[int]] = {}
        for (article_id, _), helpful in self._s.votes.items():
            counts.setdefault(article_id, [0, 0])[0 if helpful else 1] += 1
        return [
            VoteCount(
                article_id=i,
                slug=self._s.articles[i].slug,
                title=self._s.articles[i].title,
                language=self._s.articles[i].language,
                helpful=yes,
                not_helpful=no,
            )
            for i, (yes, no) in sorted(counts.items(), key=lambda kv: -sum(kv[1]))
        ]

    def record_search(self, query: str, language: Language, hits: int, at: datetime) -> None:
        self._s.searches.append((query, language, hits, at))

    def missed_searches(self, limit: int) -> list[MissedSearch]:
        missed: dict[tuple[str, Language], list[datetime]] = {}
        for query, language, hits, at in self._s.searches:
            if hits == 0:
                missed.setdefault((query, language), []).append(at)
        return sorted(
            (
                MissedSearch(query=q, language=lang, count=len(ats), last_at=max(ats))
                for (q, lang), ats in missed.items()
            ),
            key=lambda m: (-m.count, m.query),
        )[:limit]

    def note_read(self, token: str, article_id: int, at: datetime) -> None:
        self._s.reads.add((token, article_id))

    def note_case(self, token: str, case_reference: str, at: datetime) -> None:
        self._s.cases.setdefault(token, case_reference)

    def deflection(self) -> DeflectionReport:
        tokens = {token for token, _ in self._s.reads}
        return DeflectionReport(read=len(tokens), deflected=len(tokens - set(self._s.cases)))


@attrs.define
class FakeIndex:
    """``SearchIndex`` and ``SearchReader`` by brute force: every stem of every entry,
    counted."""

    db: FakeDatabase

    def put(self, entries: Sequence[IndexEntry]) -> None:
        for entry in entries:
            self.db.state.index[entry.article_id] = entry

    def drop(self, article_id: int) -> None:
        self.db.state.index.pop(article_id, None)

    def find(
        self,
        words: Sequence[str],
        language: Language,
        *,
        limit: int,
        prefix_last: bool = False,
        product: str | None = None,
        topic: str | None = None,
    ) -> Found:
        found = self._ranked(words, language, limit, False, prefix_last, product, topic)
        if found or len(words) < 2:
            return Found(found, matched_all=bool(found))
        found = self._ranked(words, language, limit, True, prefix_last, product, topic)
        return Found(found, matched_all=False)

    def _ranked(
        self,
        words: Sequence[str],
        language: Language,
        limit: int,
        any_word: bool,
        prefix_last: bool,
        product: str | None,
        topic: str | None,
    ) -> list[tuple[Article, float]]:
        wanted = analysis.stems(words, language.value)
        scored = []
        for entry in self.db.state.index.values():
            if entry.language != language or product not in (None, entry.product):
                continue
            if topic not in (None, entry.topic):
                continue
            title = analysis.index_text(entry.title, language.value).split()
            body = analysis.index_text(entry.body, language.value).split()

            def count(
                stem: str, last: bool, title: list[str] = title, body: list[str] = body
            ) -> int:
                match = (lambda t: t.startswith(stem)) if last and prefix_last else stem.__eq__
                return 4 * sum(map(match, title)) + sum(map(match, body))

            counts = [count(s, i == len(wanted) - 1) for i, s in enumerate(wanted)]
            if (any(counts) if any_word else all(counts)) and counts:
                scored.append((entry.article_id, float(sum(counts))))
        best = sorted(scored, key=lambda s: (-s[1], s[0]))[:limit]
        articles = self.db.state.articles
        return [(attrs.evolve(articles[i]), score) for i, score in best if i in articles]

    def _words(self, language: Language) -> set[str]:
        return {
            w
            for e in self.db.state.index.values()
            if e.language == language
            for w in analysis.tokens(f"{e.title} {e.body}")
        }

    def known(self, words: Iterable[str], language: Language) -> set[str]:
        return set(words) & self._words(language)

    def vocabulary(self, language: Language, shortest: int, longest: int) -> list[str]:
        return sorted(w for w in self._words(language) if shortest <= len(w) <= longest)
