"""What the knowledge use cases need, as Protocols: the transactions, and the search
index (one port, two backends in ``search.py``: SQLite FTS5 and PostgreSQL full-text
search; tests use an in-memory fake)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

import attrs
from sqlalchemy.engine import Connection

from postroom.core.knowledge.model import Article, Language

T = TypeVar("T")


@attrs.frozen
class IndexEntry:
    """A published article as the index holds it: plain text, no markup."""

    article_id: int
    language: Language
    product: str
    topic: str
    title: str
    body: str


@attrs.frozen
class Found:
    """What a search found: the articles with their scores, best first, and whether
    they hold every word of the query (else some: the any-word fallback)."""

    hits: list[tuple[Article, float]]
    matched_all: bool


class SearchIndex(Protocol):
    """The index's writes, in the use case's unit of work."""

    def put(self, entries: Sequence[IndexEntry]) -> None:
        """Index (or re-index) articles, in one go (a bulk import passes thousands)."""
        ...

    def drop(self, article_id: int) -> None:
        """Forget an article (archived or back to draft); nothing if it was not there."""
        ...


class SearchReader(Protocol):
    """The index's reads: each one statement on its own, outside any unit of work (a
    search is read-only, and its reads need not see one snapshot), so that a search
    pays for no transaction of its own."""

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
        """The published articles whose text matches all the folded query ``words``,
        else, when there are several and no article holds them all, any of them (one
        round trip for both); the last word a prefix with ``prefix_last``. Best first,
        with their score (higher is better); each article carries its stored plain text,
        read in the same round trip."""
        ...

    def known(self, words: Iterable[str], language: Language) -> set[str]:
        """Those of the folded ``words`` that occur in some indexed article."""
        ...

    def vocabulary(self, language: Language, shortest: int, longest: int) -> list[str]:
        """Indexed words of ``language`` between the two lengths, for typo correction."""
        ...


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    """``Database.run``: ``work`` in one transaction, rolled back unless it commits."""

    @property
    def dialect(self) -> str: ...

    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...
