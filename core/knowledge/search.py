"""The search index port's two backends, on a unit of work's connection.

- SQLite (the embedded default): FTS5 table ``knowledge_fts`` with the unicode61
  tokenizer (diacritics removed), holding each article's Snowball stems (FTS5's porter
  stemmer is English-only, so both languages are stemmed here), ranked by bm25 with the
  title weighing four times the body.
- PostgreSQL: the generated column ``knowledge_search.document``, a tsvector of the
  folded text with the english or french configuration (title weight A, body B) under
  a GIN index, ranked by ts_rank_cd. Folding in Python stands in for ``unaccent``, which
  is an extension a database may not have.

Both keep the folded plain text in ``knowledge_search`` (snippets) and the words seen in
``knowledge_terms`` (typo tolerance).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from postroom.core.knowledge import analysis
from postroom.core.knowledge.model import Language
from postroom.core.knowledge.ports import IndexEntry, SearchIndex
from postroom.core.knowledge.store import knowledge_search, knowledge_terms

MAX_TERM = 60
#: How many matches are ranked, at most: the first ones the index yields (on SQLite the
#: newest articles). A query that matches more than this in one language is too broad
#: for its order to mean much, and ranking every match of it is what made a search of
#: a large base slow (docs/performance.md).
RANKED_MATCHES = 1000
# The FTS5 table, as SQLAlchemy sees it to write it (it is not in the metadata: only
# SQLite has it, and its migration creates it).
_FTS = sa.table(
    "knowledge_fts",
    sa.column("rowid"),
    sa.column("title"),
    sa.column("body"),
    sa.column("language"),
)
_CONFIG = {Language.EN: "english", Language.FR: "french"}
#: On SQLite each stem is indexed behind its language's mark, so that a search of one
#: language reads only that language's postings: a ``language`` term in the MATCH made
#: FTS5 intersect with half the base, most of a query's cost (docs/performance.md).
#: Digits are token characters for unicode61, and no stem starts with both marks.
_MARK = {Language.EN: "0", Language.FR: "1"}


def fts5_text(text: str, language: Language) -> str:
    """What the FTS5 table holds for ``text``: its stems, each behind the language's mark."""
    mark = _MARK[language]
    return " ".join(mark + stem for stem in analysis.stems(analysis.tokens(text), language))


class _IndexTables:
    """What both backends keep alike: the folded text and the vocabulary."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _put_text(self, entries: Sequence[IndexEntry]) -> None:
        ids = [entry.article_id for entry in entries]
        self.connection.execute(
            sa.delete(knowledge_search).where(knowledge_search.c.article_id.in_(ids))
        )
        self.connection.execute(
            sa.insert(knowledge_search),
            [
                {
                    "article_id": entry.article_id,
                    "language": entry.language.value,
                    "product": entry.product,
                    "topic": entry.topic,
                    "title": analysis.fold(entry.title),
                    "body": analysis.fold(entry.body),
                }
                for entry in entries
            ],
        )
        terms = {
            (entry.language.value, w)
            for entry in entries
            for w in analysis.tokens(f"{entry.title} {entry.body}")
            if len(w) <= MAX_TERM and not w.isdigit()
        }
        if terms:
            insert = (
                pg_insert(knowledge_terms)
                if self.connection.dialect.name == "postgresql"
                else sqlite_insert(knowledge_terms)
            )
            self.connection.execute(
                insert.on_conflict_do_nothing(),
                [{"language": lang, "term": w, "length": len(w)} for lang, w in sorted(terms)],
            )

    def _drop_text(self, article_id: int) -> None:
        self.connection.execute(
            sa.delete(knowledge_search).where(knowledge_search.c.article_id == article_id)
        )

    def known(self, words: Iterable[str], language: Language) -> set[str]:
        wanted = list(words)
        if not wanted:
            return set()
        t = knowledge_terms
        rows = self.connection.execute(
            sa.select(t.c.term).where(t.c.language == language.value, t.c.term.in_(wanted))
        )
        return {str(r.term) for r in rows}

    def vocabulary(self, language: Language, shortest: int, longest: int) -> list[str]:
        t = knowledge_terms
        rows = self.connection.execute(
            sa.select(t.c.term).where(
                t.c.language == language.value, t.c.length.between(shortest, longest)
            )
        )
        return [str(r.term) for r in rows]

    @staticmethod
    def _filters(product: str | None, topic: str | None) -> tuple[str, dict[str, str]]:
        sql, params = "", {}
        if product is not None:
            sql += " AND s.product = :product"
            params["product"] = product
        if topic is not None:
            sql += " AND s.topic = :topic"
            params["topic"] = topic
        return sql, params


class SqliteSearch(_IndexTables):
    """``SearchIndex`` on SQLite FTS5."""

    def put(self, entries: Sequence[IndexEntry]) -> None:
        if not entries:
            return
        self._put_text(entries)
        self.connection.execute(
            sa.delete(_FTS).where(_FTS.c.rowid.in_([e.article_id for e in entries]))
        )
        self.connection.execute(
            sa.insert(_FTS),
            [
                {
                    "rowid": entry.article_id,
                    "title": fts5_text(entry.title, entry.language),
                    "body": fts5_text(entry.body, entry.language),
                    "language": entry.language.value,
                }
                for entry in entries
            ],
        )

    def drop(self, article_id: int) -> None:
        self._drop_text(article_id)
        self.connection.execute(
            sa.text("DELETE FROM knowledge_fts WHERE rowid = :id"), {"id": article_id}
        )

    def find(
        self,
        words: Sequence[str],
        language: Language,
        *,
        limit: int,
        any_word: bool = False,
        prefix_last: bool = False,
        product: str | None = None,
        topic: str | None = None,
    ) -> list[tuple[int, float]]:
        match = fts5_query(words, language, any_word=any_word, prefix_last=prefix_last)
        if not match:
            return []
        filters, params = self._filters(product, topic)
        # The language is in the terms themselves (their mark); the join to
        # knowledge_search is only for a product or topic filter.
        join = " JOIN knowledge_search s ON s.article_id = knowledge_fts.rowid" if filters else ""
        # the join and the filters are fixed fragments; every value is bound
        sql = (
            "SELECT id, rank FROM (SELECT knowledge_fts.rowid AS id,"  # noqa: S608
            " bm25(knowledge_fts, 4.0, 1.0, 0.0) AS rank"
            f" FROM knowledge_fts{join} WHERE knowledge_fts MATCH :match{filters}"
            " ORDER BY knowledge_fts.rowid DESC LIMIT :candidates)"
            " ORDER BY rank, id DESC LIMIT :limit"
        )
        rows = self.connection.execute(
            sa.text(sql),
            {
                "match": match,
                "candidates": RANKED_MATCHES,
                "limit": limit,
                **params,
            },
        )
        # bm25 is lower for better matches; the port says higher is better
        return [(int(r[0]), -float(r[1])) for r in rows]


def fts5_query(
    words: Sequence[str], language: Language, *, any_word: bool = False, prefix_last: bool = False
) -> str:
    """The FTS5 MATCH expression for folded ``words``: their stems behind the
    language's mark, quoted (so no word is read as an operator), joined by AND or OR;
    the last one a prefix when the reader is still typing it."""
    stems = analysis.stems(words, language)
    terms = [f'"{_MARK[language]}{stem}"' for stem in stems if stem]
    if prefix_last and terms:
        terms[-1] += "*"
    return (" OR " if any_word else " AND ").join(terms)


class PostgresSearch(_IndexTables):
    """``SearchIndex`` on PostgreSQL full-text search."""

    def put(self, entries: Sequence[IndexEntry]) -> None:
        if entries:
            self._put_text(entries)  # the generated tsvector column follows the rows

    def drop(self, article_id: int) -> None:
        self._drop_text(article_id)

    def find(
        self,
        words: Sequence[str],
        language: Language,
        *,
        limit: int,
        any_word: bool = False,
        prefix_last: bool = False,
        product: str | None = None,
        topic: str | None = None,
    ) -> list[tuple[int, float]]:
        query = tsquery(words, any_word=any_word, prefix_last=prefix_last)
        if not query:
            return []
        filters, params = self._filters(product, topic)
        rows = self.connection.execute(
            sa.text(
                "SELECT c.article_id, ts_rank_cd(c.document, c.q) AS rank FROM"  # noqa: S608
                " (SELECT s.article_id, s.document, q FROM knowledge_search s,"
                " to_tsquery(CAST(:config AS regconfig), :query) q"
                f" WHERE s.document @@ q AND s.language = :language{filters}"
                " LIMIT :candidates) c"
                " ORDER BY rank DESC, c.article_id LIMIT :limit"
            ),
            {
                "config": _CONFIG[language],
                "query": query,
                "language": language.value,
                "candidates": RANKED_MATCHES,
                "limit": limit,
                **params,
            },
        )
        return [(int(r[0]), float(r[1])) for r in rows]


def tsquery(words: Sequence[str], *, any_word: bool = False, prefix_last: bool = False) -> str:
    """The to_tsquery text for folded ``words`` (letters and digits only, so nothing
    in them is an operator); PostgreSQL stems them with the language's configuration."""
    terms = [w for w in words if w.isalnum()]
    if prefix_last and terms:
        terms[-1] += ":*"
    return (" | " if any_word else " & ").join(terms)


def index_on(connection: Connection) -> SearchIndex:
    """The search index of the connection's database."""
    if connection.dialect.name == "postgresql":
        return PostgresSearch(connection)
    return SqliteSearch(connection)
