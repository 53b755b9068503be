"""Tables and the repository of the knowledge base (SQLAlchemy Core).

``ArticleRepository`` is the Protocol the use cases depend on; ``ArticleStore`` its
implementation on a unit of work's connection (tests use an in-memory fake). The
search index's tables are here too; the index itself is ``search.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from postroom.core.db import UtcDateTime, metadata
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

knowledge_articles = sa.Table(
    "knowledge_articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("family", sa.String(80), nullable=False),
    sa.Column("slug", sa.String(80), nullable=False, unique=True),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("product", sa.String(20), nullable=False),
    sa.Column("topic", sa.String(80), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # related articles' families, space-separated, in the author's order
    sa.Column("related", sa.String(900), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=True),
    # the body's plain text, rendered when the article is written: what a search's
    # snippets are made from, read in the ranked query's own round trip
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("family", "language", name="uq_knowledge_articles_family_language"),
    sa.Index("ix_knowledge_articles_browse", "language", "status", "product", "topic"),
)

knowledge_versions = sa.Table(
    "knowledge_versions",
    metadata,
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("knowledge_articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)

# The searchable text of each published article, folded (no case, no accents). On
# PostgreSQL the migration adds the generated tsvector column ``document`` and its GIN
# index; on SQLite the FTS5 table ``knowledge_fts`` (same rowid) holds the stems.
knowledge_search = sa.Table(
    "knowledge_search",
    metadata,
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("knowledge_articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("product", sa.String(20), nullable=False),
    sa.Column("topic", sa.String(80), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

# The words the index has seen, per language: what typo tolerance corrects towards.
knowledge_terms = sa.Table(
    "knowledge_terms",
    metadata,
    sa.Column("language", sa.String(2), primary_key=True),
    sa.Column("term", sa.String(60), primary_key=True),
    sa.Column("length", sa.Integer, nullable=False),
    sa.Index("ix_knowledge_terms_length", "language", "length"),
)

knowledge_votes = sa.Table(
    "knowledge_votes",
    metadata,
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("knowledge_articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # a keyed hash of the reader (signed-in user or browser session): one vote each
    sa.Column("voter", sa.String(64), primary_key=True),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)

knowledge_searches = sa.Table(
    "knowledge_searches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("query", sa.String(500), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("hits", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_knowledge_searches_missed", "hits", "language", "query"),
)

# A new-case form's suggestions: which articles the customer opened from it, and
# whether the form became a case anyway (else the form counts as deflected).
knowledge_deflection_reads = sa.Table(
    "knowledge_deflection_reads",
    metadata,
    sa.Column("token", sa.String(43), primary_key=True),
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("knowledge_articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("read_at", UtcDateTime(), nullable=False),
)

knowledge_deflection_cases = sa.Table(
    "knowledge_deflection_cases",
    metadata,
    sa.Column("token", sa.String(43), primary_key=True),
    sa.Column("case_reference", sa.String(40), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
)


class ArticleRepository(Protocol):
    """What the knowledge use cases read and write (the index aside)."""

    def add(self, article: Article) -> Article:
        """Store a new article (its ``id`` is ignored); returns it with its id."""
        ...

    def update(self, article: Article) -> None: ...

    def by_slug(self, slug: str) -> Article | None: ...

    def by_ids(self, ids: Iterable[int]) -> dict[int, Article]: ...

    def of_family(self, family: str) -> list[Article]: ...

    def in_families(self, families: Iterable[str], language: Language) -> list[Article]: ...

    def browse(
        self,
        *,
        language: Language | None = None,
        status: Status | None = None,
        product: Product | None = None,
        topic: str | None = None,
    ) -> list[Article]:
        """Articles by product, topic and title."""
        ...

    def add_version(self, version: Version) -> None: ...

    def versions(self, article_id: int) -> list[Version]:
        """Older versions, newest first."""
        ...

    def vote(self, article_id: int, voter: str, helpful: bool, at: datetime) -> None:
        """Record (or change) ``voter``'s vote on the article."""
        ...

    def votes(self) -> list[VoteCount]: ...

    def record_search(self, query: str, language: Language, hits: int, at: datetime) -> None: ...

    def missed_searches(self, limit: int) -> list[MissedSearch]: ...

    def note_read(self, token: str, article_id: int, at: datetime) -> None: ...

    def note_case(self, token: str, case_reference: str, at: datetime) -> None: ...

    def deflection(self) -> DeflectionReport: ...


def article_from_columns(m: Any) -> Article:
    """An article from its row's columns by name (a mapping)."""
    body, text = str(m["body"]), str(m["text"])
    return Article(
        id=int(m["id"]),
        family=str(m["family"]),
        slug=str(m["slug"]),
        language=Language(m["language"]),
        title=str(m["title"]),
        body=body,
        product=Product(m["product"]),
        topic=str(m["topic"]),
        status=Status(m["status"]),
        author=str(m["author"]),
        version=int(m["version"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        published_at=m["published_at"],
        related=tuple(str(m["related"]).split()),
        # (a row written by other means than the store has no text: rendered on use)
        stored_text=(body, text) if text or not body else None,
    )


def _values(article: Article) -> dict[str, Any]:
    return {
        "family": article.family,
        "slug": article.slug,
        "language": article.language.value,
        "title": article.title,
        "body": article.body,
        "product": article.product.value,
        "topic": article.topic,
        "status": article.status.value,
        "author": article.author,
        "version": article.version,
        "related": " ".join(article.related),
        "created_at": article.created_at,
        "updated_at": article.updated_at,
        "published_at": article.published_at,
        "text": article.text,
    }


class ArticleStore:
    """``ArticleRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, article: Article) -> Article:
        result = self.connection.execute(
            sa.insert(knowledge_articles)
            .values(_values(article))
            .returning(knowledge_articles.c.id)
        )
        article.id = int(result.scalar_one())
        return article

    def update(self, article: Article) -> None:
        self.connection.execute(
            sa.update(knowledge_articles)
            .where(knowledge_articles.c.id == article.id)
            .values(_values(article))
        )

    def by_slug(self, slug: str) -> Article | None:
        row = self.connection.execute(
            sa.select(knowledge_articles).where(knowledge_articles.c.slug == slug)
        ).first()
        return None if row is None else article_from_columns(row._mapping)

    def by_ids(self, ids: Iterable[int]) -> dict[int, Article]:
        wanted = list(ids)
        if not wanted:
            return {}
        rows = self.connection.execute(
            sa.select(knowledge_articles).where(knowledge_articles.c.id.in_(wanted))
        )
        return {int(row.id): article_from_columns(row._mapping) for row in rows}

    def of_family(self, family: str) -> list[Article]:
        rows = self.connection.execute(
            sa.select(knowledge_articles)
            .where(knowledge_articles.c.family == family)
            .order_by(knowledge_articles.c.language)
        )
        return [article_from_columns(row._mapping) for row in rows]

    def in_families(self, families: Iterable[str], language: Language) -> list[Article]:
        wanted = list(families)
        if not wanted:
            return []
        rows = self.connection.execute(
            sa.select(knowledge_articles).where(
                knowledge_articles.c.family.in_(wanted),
                knowledge_articles.c.language == language.value,
            )
        )
        found = {row.family: article_from_columns(row._mapping) for row in rows}
        return [found[family] for family in wanted if family in found]

    def browse(
        self,
        *,
        language: Language | None = None,
        status: Status | None = None,
        product: Product | None = None,
        topic: str | None = None,
    ) -> list[Article]:
        t = knowledge_articles
        query = sa.select(t).order_by(t.c.product, t.c.topic, t.c.title, t.c.id)
        if language is not None:
            query = query.where(t.c.language == language.value)
        if status is not None:
            query = query.where(t.c.status == status.value)
        if product is not None:
            query = query.where(t.c.product == product.value)
        if topic is not None:
            query = query.where(t.c.topic == topic)
        return [article_from_columns(row._mapping) for row in self.connection.execute(query)]

    def add_version(self, version: Version) -> None:
        self.connection.execute(
            sa.insert(knowledge_versions).values(
                article_id=version.article_id,
                version=version.version,
                title=version.title,
                body=version.body,
                author=version.author,
                at=version.at,
            )
        )

    def versions(self, article_id: int) -> list[Version]:
        t = knowledge_versions
        rows = self.connection.execute(
            sa.select(t).where(t.c.article_id == article_id).order_by(t.c.version.desc())
        )
        return [
            Version(
                article_id=int(r.article_id),
                version=int(r.version),
                title=str(r.title),
                body=str(r.body),
                author=str(r.author),
                at=r.at,
            )
            for r in rows
        ]

    def vote(self, article_id: int, voter: str, helpful: bool, at: datetime) -> None:
        t = knowledge_votes
        changed = self.connection.execute(
            sa.update(t)
            .where(t.c.article_id == article_id, t.c.voter == voter)
            .values(helpful=helpful, at=at)
        )
        if changed.rowcount == 0:
            self.connection.execute(
                sa.insert(t).values(article_id=article_id, voter=voter, helpful=helpful, at=at)
            )

    def votes(self) -> list[VoteCount]:
        a, v = knowledge_articles, knowledge_votes
        helpful = sa.func.sum(sa.case((v.c.helpful, 1), else_=0))
        rows = self.connection.execute(
            sa.select(a.c.id, a.c.slug, a.c.title, a.c.language, helpful, sa.func.count())
            .join(v, v.c.article_id == a.c.id)
            .group_by(a.c.id, a.c.slug, a.c.title, a.c.language)
            .order_by(sa.func.count().desc(), a.c.slug)
        )
        return [
            VoteCount(
                article_id=int(r[0]),
                slug=str(r[1]),
                title=str(r[2]),
                language=Language(r[3]),
                helpful=int(r[4]),
                not_helpful=int(r[5]) - int(r[4]),
            )
            for r in rows
        ]

    def record_search(self, query: str, language: Language, hits: int, at: datetime) -> None:
        self.connection.execute(
            sa.insert(knowledge_searches).values(
                query=query, language=language.value, hits=hits, at=at
            )
        )

    def missed_searches(self, limit: int) -> list[MissedSearch]:
        t = knowledge_searches
        rows = self.connection.execute(
            sa.select(t.c.query, t.c.language, sa.func.count(), sa.func.max(t.c.at))
            .where(t.c.hits == 0)
            .group_by(t.c.query, t.c.language)
            .order_by(sa.func.count().desc(), t.c.query)
            .limit(limit)
        )
        return [
            MissedSearch(
                query=str(r[0]),
                language=Language(r[1]),
                count=int(r[2]),
                last_at=r[3],
            )
            for r in rows
        ]

    def note_read(self, token: str, article_id: int, at: datetime) -> None:
        t = knowledge_deflection_reads
        seen = self.connection.execute(
            sa.select(t.c.token).where(t.c.token == token, t.c.article_id == article_id)
        ).first()
        if seen is None:
            self.connection.execute(
                sa.insert(t).values(token=token, article_id=article_id, read_at=at)
            )

    def note_case(self, token: str, case_reference: str, at: datetime) -> None:
        t = knowledge_deflection_cases
        seen = self.connection.execute(sa.select(t.c.token).where(t.c.token == token)).first()
        if seen is None:
            self.connection.execute(
                sa.insert(t).values(token=token, case_reference=case_reference, opened_at=at)
            )

    def deflection(self) -> DeflectionReport:
        reads, cases = knowledge_deflection_reads, knowledge_deflection_cases
        read = self.connection.execute(
            sa.select(sa.func.count(sa.distinct(reads.c.token)))
        ).scalar_one()
        became_cases = self.connection.execute(
            sa.select(sa.func.count(sa.distinct(reads.c.token))).join(
                cases, cases.c.token == reads.c.token
            )
        ).scalar_one()
        return DeflectionReport(read=int(read), deflected=int(read) - int(became_cases))
