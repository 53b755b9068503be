"""The search index port's two backends, on a unit of work's connection.

- SQLite (the embedded default): FTS5 table ``knowledge_fts`` with the unicode61
  tokenizer (diacritics removed), holding each article's Snowball stems (FTS5's porter
  stemmer is English-only, so both languages are stemmed here), ranked by bm25 with the
  title weighing four times the body.
- PostgreSQL: the generated column ``knowledge_search.document``, a tsvector of the
  folded text with the english or french configuration (title weight A, body B) under
  a GIN index, ranked by ts_rank_cd. Folding in Python stands in for ``unaccent``, which
  is an extension a database may not have.

Both keep the folded plain text in ``knowledge_search`` and the words seen in
``knowledge_terms`` (typo tolerance). The writes (``SqliteSearch``, ``PostgresSearch``)
run in the use case's unit of work; the reads (``SearchReads``) are driver-level
statements on their own (``Database.read_rows``), the ranked query reading the articles
it found and their stored plain text in its own round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from postroom.core.knowledge import analysis
from postroom.core.knowledge.model import Article, Language, Product, Status
from postroom.core.knowledge.ports import Found, IndexEntry, SearchIndex, SearchReader
from postroom.core.knowledge.store import (
    knowledge_articles,
    knowledge_search,
    knowledge_terms,
)

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


def tsquery(words: Sequence[str], *, any_word: bool = False, prefix_last: bool = False) -> str:
    """The to_tsquery text for folded ``words`` (letters and digits only, so nothing
    in them is an operator); PostgreSQL stems them with the language's configuration."""
    terms = [w for w in words if w.isalnum()]
    if prefix_last and terms:
        terms[-1] += ":*"
    return (" | " if any_word else " & ").join(terms)


def index_on(connection: Connection) -> SearchIndex:
    """The search index of the connection's database (its writes)."""
    if connection.dialect.name == "postgresql":
        return PostgresSearch(connection)
    return SqliteSearch(connection)


# ------------------------------------------------------------------ reads


class Reads(Protocol):
    """What the reads need of the database: ``Database``'s driver-level reads."""

    @property
    def dialect(self) -> str: ...

    @property
    def engine(self) -> sa.Engine: ...

    @property
    def placeholder(self) -> str: ...

    def read_rows(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...


#: The columns of an article, in the table's order, after the two the reads put first.
_ARTICLE = ", ".join(f"a.{c.name}" for c in knowledge_articles.columns)

#: SQLite: the first ``RANKED_MATCHES`` matches the index yields, the best ``limit`` of
#: them by bm25 (title four times the body). The language is in the terms themselves
#: (their mark); knowledge_search is joined only for a product or topic filter. The
#: fragments are fixed; every value is bound.
_SQLITE_RANKED = (
    "SELECT id, rank FROM (SELECT knowledge_fts.rowid AS id,"
    " bm25(knowledge_fts, 4.0, 1.0, 0.0) AS rank FROM knowledge_fts{join}"
    " WHERE knowledge_fts MATCH ?{filters} ORDER BY knowledge_fts.rowid DESC LIMIT {cap})"
    " ORDER BY rank, id DESC LIMIT ?"
)
#: One word: its ranked matches joined to their articles (1: they hold every word).
_SQLITE_ONE = (
    "SELECT 1, r.rank, {article} FROM ({ranked}) r"
    " JOIN knowledge_articles a ON a.id = r.id ORDER BY r.rank, r.id DESC"
)
#: Several words: the matches of all of them, else of any, in one statement. The second
#: ranked query's cap is 0 when the first found something, and FTS5 is not even asked
#: (SQLite checks a LIMIT of 0 before it opens the scan): a query whose words meet pays
#: nothing for the fallback, one whose words never meet pays no second round trip.
_SQLITE_ALL_ELSE_ANY = (
    "WITH found AS ({all}), other AS ({any})"
    " SELECT r.matched, r.rank, {article} FROM (SELECT 1 AS matched, id, rank FROM found"
    " UNION ALL SELECT 0, id, rank FROM other) r"
    " JOIN knowledge_articles a ON a.id = r.id ORDER BY r.rank, r.id DESC"
)
_SQLITE_FALLBACK_CAP = "(CASE WHEN EXISTS (SELECT 1 FROM found) THEN 0 ELSE ? END)"

#: PostgreSQL: the first ``RANKED_MATCHES`` matches of the language, the best ``limit``
#: by ts_rank_cd.
_POSTGRES_RANKED = (
    "SELECT c.article_id, ts_rank_cd(c.document, c.q) AS rank"
    " FROM (SELECT s.article_id, s.document, q FROM knowledge_search s,"
    " to_tsquery(CAST(%s AS regconfig), %s) q WHERE s.document @@ q AND s.language = %s"
    "{filters}{guard} LIMIT %s) c ORDER BY rank DESC, c.article_id LIMIT %s"
)
_POSTGRES_ONE = (
    "SELECT true, r.rank, {article} FROM ({ranked}) r"
    " JOIN knowledge_articles a ON a.id = r.article_id ORDER BY r.rank DESC, r.article_id"
)
#: All words, else any: the second query runs only when the first found nothing (its
#: guard is a one-time filter, decided before its scan starts).
_POSTGRES_ALL_ELSE_ANY = (
    "WITH found AS ({all}), other AS ({any})"
    " SELECT r.matched, r.rank, {article} FROM (SELECT true AS matched, article_id, rank"
    " FROM found UNION ALL SELECT false, article_id, rank FROM other) r"
    " JOIN knowledge_articles a ON a.id = r.article_id ORDER BY r.rank DESC, r.article_id"
)
_POSTGRES_FALLBACK_GUARD = " AND NOT EXISTS (SELECT 1 FROM found)"


class SearchReads:
    """``SearchReader`` on a database: each read one driver-level statement, prepared
    once per pooled connection, with no unit of work and no SQLAlchemy compilation."""

    def __init__(self, db: Reads) -> None:
        self._db = db
        self._postgres = db.dialect == "postgresql"
        mark = db.placeholder
        self._vocabulary = (
            "SELECT term FROM knowledge_terms WHERE language = ? AND length BETWEEN ? AND ?"
        ).replace("?", mark)
        self._article = _article_reader(db.engine.dialect)
        self._statements: dict[tuple[bool, bool, bool], str] = {}

    def _find_statement(self, product: bool, topic: bool, fallback: bool) -> str:
        key = (product, topic, fallback)
        statement = self._statements.get(key)
        if statement is None:
            mark = self._db.placeholder
            filters = (f" AND s.product = {mark}" if product else "") + (
                f" AND s.topic = {mark}" if topic else ""
            )
            if self._postgres:
                ranked = _POSTGRES_RANKED.format(filters=filters, guard="")
                if fallback:
                    other = _POSTGRES_RANKED.format(filters=filters, guard=_POSTGRES_FALLBACK_GUARD)
                    statement = _POSTGRES_ALL_ELSE_ANY.format(
                        all=ranked, any=other, article=_ARTICLE
                    )
                else:
                    statement = _POSTGRES_ONE.format(ranked=ranked, article=_ARTICLE)
            else:
                join = (
                    " JOIN knowledge_search s ON s.article_id = knowledge_fts.rowid"
                    if filters
                    else ""
                )
                ranked = _SQLITE_RANKED.format(join=join, filters=filters, cap="?")
                if fallback:
                    other = _SQLITE_RANKED.format(
                        join=join, filters=filters, cap=_SQLITE_FALLBACK_CAP
                    )
                    statement = _SQLITE_ALL_ELSE_ANY.format(all=ranked, any=other, article=_ARTICLE)
                else:
                    statement = _SQLITE_ONE.format(ranked=ranked, article=_ARTICLE)
            self._statements[key] = statement
        return statement

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
        filters = [v for v in (product, topic) if v is not None]
        if self._postgres:
            query = tsquery(words, prefix_last=prefix_last)
            if not query:
                return Found([], matched_all=False)
            ranked = [_CONFIG[language], query, language.value, *filters, RANKED_MATCHES, limit]
            params = ranked
            if len(words) > 1:
                ranked_any = tsquery(words, any_word=True, prefix_last=prefix_last)
                params = [*ranked, _CONFIG[language], ranked_any, *ranked[2:]]
        else:
            match = fts5_query(words, language, prefix_last=prefix_last)
            if not match:
                return Found([], matched_all=False)
            params = [match, *filters, RANKED_MATCHES, limit]
            if len(words) > 1:
                match_any = fts5_query(words, language, any_word=True, prefix_last=prefix_last)
                params += [match_any, *filters, RANKED_MATCHES, limit]
        statement = self._find_statement(product is not None, topic is not None, len(words) > 1)
        rows = self._db.read_rows(statement, params)
        if not rows:
            return Found([], matched_all=False)
        article = self._article
        # bm25 is lower for better matches; the port says higher is better
        sign = 1.0 if self._postgres else -1.0
        return Found(
            [(article(row), sign * float(row[1])) for row in rows], matched_all=bool(rows[0][0])
        )

    def known(self, words: Iterable[str], language: Language) -> set[str]:
        wanted = list(words)
        if not wanted:
            return set()
        mark = self._db.placeholder
        statement = (
            f"SELECT term FROM knowledge_terms WHERE language = {mark}"  # noqa: S608
            f" AND term IN ({', '.join([mark] * len(wanted))})"
        )
        return {str(row[0]) for row in self._db.read_rows(statement, [language.value, *wanted])}

    def vocabulary(self, language: Language, shortest: int, longest: int) -> list[str]:
        rows = self._db.read_rows(self._vocabulary, [language.value, shortest, longest])
        return [str(row[0]) for row in rows]


_LANGUAGES = {member.value: member for member in Language}
_PRODUCTS = {member.value: member for member in Product}
_STATUSES = {member.value: member for member in Status}


def _article_reader(dialect: sa.Dialect) -> Callable[[Sequence[Any]], Article]:
    """An article from a driver row of the reads (two values, then its columns in the
    table's order), each value converted as SQLAlchemy would (the timestamps: the others
    need nothing), read by position (the ten hits of every search are built here)."""
    names = [c.name for c in knowledge_articles.columns]
    assert names == list(_COLUMNS), "knowledge_articles changed: update _COLUMNS"
    convert = _timestamps(dialect)

    def read(row: Sequence[Any]) -> Article:
        (
            _,
            _,
            id_,
            family,
            slug,
            language,
            title,
            body,
            product,
            topic,
            status,
            author,
            version,
            related,
            created_at,
            updated_at,
            published_at,
            text,
        ) = row
        return Article(
            id=id_,
            family=family,
            slug=slug,
            language=_LANGUAGES.get(language) or Language(language),
            title=title,
            body=body,
            product=_PRODUCTS.get(product) or Product(product),
            topic=topic,
            status=_STATUSES.get(status) or Status(status),
            author=author,
            version=version,
            created_at=convert(created_at),
            updated_at=convert(updated_at),
            published_at=convert(published_at),
            related=tuple(related.split()),
            # (a row written by other means than the store has no text: rendered on use)
            stored_text=(body, text) if text or not body else None,
        )

    return read


def _timestamps(dialect: sa.Dialect) -> Callable[[Any], Any]:
    """How the driver's value of a ``UtcDateTime`` column becomes the datetime (all
    three of an article's timestamps are one)."""
    if dialect.name == "sqlite":
        return _sqlite_timestamp
    column = knowledge_articles.c.created_at.type.dialect_impl(dialect)
    process = column.result_processor(dialect, None)
    return process if process is not None else _unchanged


def _unchanged(value: Any) -> Any:
    return value


def _sqlite_timestamp(value: str | None) -> datetime | None:
    """A ``UtcDateTime`` as SQLAlchemy reads it from SQLite (``datetime.fromisoformat``,
    then UTC), without its chain of processors: a fifth of building a hit's article."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


#: knowledge_articles' columns, in order, as ``_article_reader`` unpacks them.
_COLUMNS = (
    "id",
    "family",
    "slug",
    "language",
    "title",
    "body",
    "product",
    "topic",
    "status",
    "author",
    "version",
    "related",
    "created_at",
    "updated_at",
    "published_at",
    "text",
)


def reader_on(db: Reads) -> SearchReader:
    """The search index's reads on ``db``."""
    return SearchReads(db)
