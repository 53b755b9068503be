"""Use cases of the knowledge base (``pr.knowledge``); each runs in one unit of work.

Staff write, edit, publish and archive articles; everyone reads and searches the
published ones; customers vote and are offered articles while they write a case.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import attrs

from postroom.core.clock import Clock
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.knowledge import analysis, markdown_files, model
from postroom.core.knowledge.model import (
    Article,
    DeflectionReport,
    Draft,
    Hit,
    Language,
    MissedSearch,
    Product,
    SearchResult,
    Status,
    Version,
    VoteCount,
)
from postroom.core.knowledge.ports import (
    IndexEntry,
    SearchIndex,
    SearchReader,
    Session,
    Transactions,
)
from postroom.core.knowledge.search import MAX_TERM, Reads, index_on, reader_on
from postroom.core.knowledge.store import ArticleRepository, ArticleStore

RepositoryFactory = Callable[[Session], ArticleRepository]
IndexFactory = Callable[[Session], SearchIndex]
MAX_RESULTS = 50
#: who the shipped articles name as their author
SHIPPED_AUTHOR = "postroom knowledge team"
#: Typo tolerance applies to queries of at most this many words (longer ones carry
#: enough right words to match without it).
SHORT_QUERY_WORDS = 3
#: How long a process keeps a language's vocabulary for typo checks before it reads it
#: again (another process may have published articles with new words meanwhile).
SPELLING_KEPT = timedelta(minutes=5)


def _store(session: Session) -> ArticleRepository:
    return ArticleStore(session.connection)


def _index(session: Session) -> SearchIndex:
    return index_on(session.connection)


class KnowledgeService:
    """``pr.knowledge``: the articles of the help centre and their search."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        reader: SearchReader,
        repository: RepositoryFactory = _store,
        index: IndexFactory = _index,
    ) -> None:
        self._db = db
        self._clock = clock
        self._reader = reader
        self._repository = repository
        self._index = index
        # each language's known words, read once in a while rather than per typo
        self._spelling: dict[Language, tuple[datetime, analysis.Spelling]] = {}

    @staticmethod
    def search_reader(db: Reads) -> SearchReader:
        """The search's reads straight on the database (``Database``): driver-level
        statements, no unit of work (the tests give an in-memory index instead)."""
        return reader_on(db)

    # -------------------------------------------------------------- writing

    def write(self, draft: Draft, author: str) -> Article:
        """A new article, a draft until published."""
        clean_author = model.parse_author(author)
        now = self._clock.now()

        def work(uow: Session) -> Article:
            article = self._write(uow, draft, clean_author, now)
            uow.commit()
            return article

        return self._db.run(work)

    def edit(self, slug: str, draft: Draft, author: str) -> Article:
        """Change an article; its previous title and body stay as a version. An edit of
        a published article is live at once (the index follows)."""
        clean_author = model.parse_author(author)
        now = self._clock.now()

        def work(uow: Session) -> Article:
            changed = self._edit(uow, slug, draft, clean_author, now)
            uow.commit()
            return changed

        changed = self._db.run(work)
        self._forget_spelling()
        return changed

    def set_status(self, slug: str, status: str | Status) -> Article:
        """Publish, archive or withdraw to draft; only published articles are searched."""
        target = model.parse_status(status)
        now = self._clock.now()

        def work(uow: Session) -> Article:
            changed = self._set_status(uow, slug, target, now)
            uow.commit()
            return changed

        changed = self._db.run(work)
        self._forget_spelling()
        return changed

    def import_article(self, draft: Draft, author: str, status: Status) -> tuple[Article, str]:
        """Create or update the article of ``draft.slug`` and give it ``status`` (a
        repository of Markdown files is the source): returns it and what happened
        (created, updated or unchanged)."""
        return self.import_articles([(draft, status)], author)[0]

    def import_articles(
        self, articles: Sequence[tuple[Draft, Status]], author: str
    ) -> builtins.list[tuple[Article, str]]:
        """``import_article`` for each, all in one transaction: a repository of Markdown
        files goes in whole or not at all (and in one commit, not three an article)."""
        clean_author = model.parse_author(author)
        now = self._clock.now()

        def work(uow: Session) -> builtins.list[tuple[Article, str]]:
            repository = self._repository(uow)
            done = []
            for draft, status in articles:
                existing = repository.by_slug(draft.slug)
                if existing is None:
                    article = self._write(uow, draft, clean_author, now)
                    outcome = "created"
                else:
                    article = self._edit(uow, draft.slug, draft, clean_author, now)
                    outcome = "unchanged" if article.version == existing.version else "updated"
                if article.status != status:
                    article = self._set_status(uow, article.slug, status, now)
                    outcome = "updated" if outcome == "unchanged" else outcome
                done.append((article, outcome))
            uow.commit()
            return done

        imported = self._db.run(work)
        self._forget_spelling()
        return imported

    def load_shipped_articles(self, author: str = SHIPPED_AUTHOR) -> int:
        """Import the articles postroom ships (``articles/``), creating or updating
        each; returns how many there are."""
        shipped = [
            markdown_files.parse(text, name) for name, text in markdown_files.shipped_articles()
        ]
        return len(self.import_articles(shipped, author))

    # The steps of the writes above, inside the caller's unit of work (no commit).

    def _write(self, uow: Session, draft: Draft, author: str, now: datetime) -> Article:
        repository = self._repository(uow)
        _check_free(repository, draft, None)
        return repository.add(
            Article(
                id=0,
                **draft.fields(),
                status=Status.DRAFT,
                author=author,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )

    def _edit(self, uow: Session, slug: str, draft: Draft, author: str, now: datetime) -> Article:
        repository = self._repository(uow)
        article = _get(repository, slug)
        if article.draft() == draft:
            return article  # nothing changed: no new version
        _check_free(repository, draft, article.id)
        repository.add_version(
            Version(
                article_id=article.id,
                version=article.version,
                title=article.title,
                body=article.body,
                author=article.author,
                at=article.updated_at,
            )
        )
        changed = attrs.evolve(
            article,
            **draft.fields(),
            author=author,
            version=article.version + 1,
            updated_at=now,
        )
        repository.update(changed)
        if changed.status == Status.PUBLISHED:
            self._index(uow).put([_entry(changed)])
        return changed

    def _set_status(self, uow: Session, slug: str, target: Status, now: datetime) -> Article:
        repository = self._repository(uow)
        article = _get(repository, slug)
        if article.status == target:
            return article
        if not model.can_transition(article.status, target):
            raise Conflict(
                f"a {article.status.value} article cannot become {target.value}",
                code="invalid_status_change",
            )
        changed = attrs.evolve(
            article,
            status=target,
            updated_at=now,
            published_at=now if target == Status.PUBLISHED else article.published_at,
        )
        repository.update(changed)
        index = self._index(uow)
        if target == Status.PUBLISHED:
            index.put([_entry(changed)])
        else:
            index.drop(changed.id)
        return changed

    def publish(self, slug: str) -> Article:
        return self.set_status(slug, Status.PUBLISHED)

    def archive(self, slug: str) -> Article:
        return self.set_status(slug, Status.ARCHIVED)

    # -------------------------------------------------------------- reading

    def get(self, slug: str, *, staff: bool = False) -> Article:
        """The article ``slug``: published only, unless for ``staff``."""
        clean = _slug(slug)
        article = self._db.run(lambda uow: self._repository(uow).by_slug(clean), readonly=True)
        if article is None or (not staff and article.status != Status.PUBLISHED):
            raise NotFound(f"no article {slug!r}", code="article_not_found")
        return article

    def list(
        self,
        *,
        language: str | Language | None = None,
        status: str | Status | None = Status.PUBLISHED,
        product: str | Product | None = None,
        topic: str | None = None,
    ) -> builtins.list[Article]:
        """Articles by product, topic and title (published ones by default)."""
        lang = None if language is None else model.parse_language(language)
        stat = None if status is None else model.parse_status(status)
        prod = None if product is None else model.parse_product(product)
        top = None if topic is None else model.parse_key(topic, "topic")
        return self._db.run(
            lambda uow: self._repository(uow).browse(
                language=lang, status=stat, product=prod, topic=top
            ),
            readonly=True,
        )

    def translations(self, article: Article) -> builtins.list[Article]:
        """The published texts of the same article in the other languages."""
        family = self._db.run(
            lambda uow: self._repository(uow).of_family(article.family), readonly=True
        )
        return [a for a in family if a.id != article.id and a.status == Status.PUBLISHED]

    def related(self, article: Article) -> builtins.list[Article]:
        """The related articles, published, in the article's language."""
        found = self._db.run(
            lambda uow: self._repository(uow).in_families(article.related, article.language),
            readonly=True,
        )
        return [a for a in found if a.status == Status.PUBLISHED]

    def in_family(self, family: str, language: str | Language) -> Article | None:
        """The published text of ``family`` in ``language``, if there is one."""
        lang = model.parse_language(language)
        found = self._db.run(
            lambda uow: self._repository(uow).in_families([family], lang), readonly=True
        )
        return next((a for a in found if a.status == Status.PUBLISHED), None)

    def versions(self, slug: str) -> builtins.list[Version]:
        article = self.get(slug, staff=True)
        return self._db.run(lambda uow: self._repository(uow).versions(article.id), readonly=True)

    # -------------------------------------------------------------- search

    def search(
        self,
        query: str,
        language: str | Language,
        *,
        limit: int = 10,
        product: str | None = None,
        topic: str | None = None,
        record: bool = True,
        typing: bool = False,
    ) -> SearchResult:
        """Published articles of ``language`` matching ``query``, best first, each with
        a highlighted snippet. All words must match, else any; in a query of at most
        three words a word the index does not know is replaced by the nearest one it
        does (one typo in 4 to 7 letters, two from 8). ``typing``: the last word may be
        unfinished. ``record`` keeps the query for the searches-without-result report."""
        text = model.parse_query(query)
        lang = model.parse_language(language)
        count = max(1, min(int(limit), MAX_RESULTS))
        prod = None if product is None else model.parse_product(product).value
        top = None if topic is None else model.parse_key(topic, "topic")
        words = analysis.query_words(text, lang.value)
        # Read-only unless recorded: each read is one statement of its own, with no
        # unit of work (the reader's), and the articles come with the ranked query.
        reader = self._reader
        searched = words
        corrected = None
        if words and len(words) <= SHORT_QUERY_WORDS:
            searched = _corrected(
                reader, words, lang, lambda: self._spelling_of(lang), keep_last=typing
            )
            if searched != words:
                corrected = " ".join(searched)

        if searched:
            found = reader.find(
                searched, lang, limit=count, prefix_last=typing, product=prod, topic=top
            )
            ranked, matched_all = found.hits, found.matched_all
        else:
            ranked, matched_all = [], False
        hits = tuple(
            Hit(
                article=article,
                score=score,
                snippet=analysis.snippet(article.text, searched, lang.value),
            )
            for article, score in ranked
        )
        if record:
            now = self._clock.now()

            def keep(uow: Session) -> None:
                self._repository(uow).record_search(analysis.fold(text), lang, len(hits), now)
                uow.commit()

            self._db.run(keep)
        return SearchResult(
            query=text, language=lang, hits=hits, corrected=corrected, matched_all=matched_all
        )

    def _spelling_of(self, language: Language) -> analysis.Spelling:
        now = self._clock.now()
        kept = self._spelling.get(language)
        if kept is None or now - kept[0] >= SPELLING_KEPT:
            kept = (now, analysis.Spelling(self._reader.vocabulary(language, 1, MAX_TERM)))
            self._spelling[language] = kept
        return kept[1]

    def _forget_spelling(self) -> None:
        """New words were indexed in this process: the next typo check reads them."""
        self._spelling.clear()

    def suggest(
        self, subject: str, description: str, language: str | Language, *, limit: int = 5
    ) -> builtins.list[Hit]:
        """Articles to offer while a customer writes a new case: searched on the subject
        and the start of the description, not recorded as a search."""
        text = f"{subject or ''} {(description or '')[:300]}".strip()
        if not text:
            return []
        words = analysis.query_words(text, model.parse_language(language).value)
        if not words:
            return []
        return builtins.list(
            self.search(" ".join(words[:12]), language, limit=limit, record=False, typing=True).hits
        )

    # -------------------------------------------------------------- feedback

    def vote(self, slug: str, voter: str, helpful: bool) -> None:
        """``voter`` (a stable, opaque key of the reader) found the article helpful or
        not; a second vote replaces the first."""
        if not isinstance(helpful, bool):
            raise ValidationError("a vote is helpful or not", code="invalid_vote")
        if not voter or len(voter) > 64:
            raise ValidationError("a vote needs its voter", code="invalid_voter")
        article = self.get(slug)
        now = self._clock.now()

        def work(uow: Session) -> None:
            self._repository(uow).vote(article.id, voter, helpful, now)
            uow.commit()

        self._db.run(work)

    @staticmethod
    def new_deflection_token() -> str:
        """The key a new-case form carries so that reads from it can be counted."""
        return secrets.token_urlsafe(32)

    def note_read(self, token: str, slug: str) -> None:
        """The customer opened article ``slug`` from a new-case form's suggestions."""
        clean = _token(token)
        article = self.get(slug)
        now = self._clock.now()

        def work(uow: Session) -> None:
            self._repository(uow).note_read(clean, article.id, now)
            uow.commit()

        self._db.run(work)

    def note_case_opened(self, token: str, case_reference: str) -> None:
        """The form ``token`` became case ``case_reference``: not deflected."""
        clean = _token(token)
        now = self._clock.now()

        def work(uow: Session) -> None:
            self._repository(uow).note_case(clean, case_reference[:40], now)
            uow.commit()

        self._db.run(work)

    # -------------------------------------------------------------- reports

    def missed_searches(self, limit: int = 50) -> builtins.list[MissedSearch]:
        return self._db.run(
            lambda uow: self._repository(uow).missed_searches(max(1, min(limit, 500))),
            readonly=True,
        )

    def deflection(self) -> DeflectionReport:
        return self._db.run(lambda uow: self._repository(uow).deflection(), readonly=True)

    def votes(self) -> builtins.list[VoteCount]:
        return self._db.run(lambda uow: self._repository(uow).votes(), readonly=True)


def _slug(slug: object) -> str:
    try:
        return model.parse_key(slug)
    except ValidationError:
        raise NotFound(f"no article {slug!r}", code="article_not_found") from None


def _token(token: object) -> str:
    if not model.is_deflection_token(token):
        raise ValidationError("not a new-case form's key", code="invalid_deflection_token")
    return str(token)


def _get(repository: ArticleRepository, slug: str) -> Article:
    article = repository.by_slug(_slug(slug))
    if article is None:
        raise NotFound(f"no article {slug!r}", code="article_not_found")
    return article


def _check_free(repository: ArticleRepository, draft: Draft, own_id: int | None) -> None:
    other = repository.by_slug(draft.slug)
    if other is not None and other.id != own_id:
        raise Conflict(f"the slug {draft.slug!r} is taken", code="slug_taken")
    for sibling in repository.of_family(draft.family):
        if sibling.language == draft.language and sibling.id != own_id:
            raise Conflict(
                f"{draft.family!r} has a {draft.language.value} text already ({sibling.slug})",
                code="translation_exists",
            )


def _entry(article: Article) -> IndexEntry:
    return IndexEntry(
        article_id=article.id,
        language=article.language,
        product=article.product.value,
        topic=article.topic,
        title=article.title,
        body=article.text,
    )


def _corrected(
    reader: SearchReader,
    words: builtins.list[str],
    language: Language,
    spelling: Callable[[], analysis.Spelling],
    *,
    keep_last: bool,
) -> builtins.list[str]:
    """``words`` with each one the index does not know replaced by its nearest known
    word, when one is near enough. A word still being typed is left alone."""
    candidates = [w for w in (words[:-1] if keep_last else words) if analysis.allowed_typos(w)]
    if not candidates:
        return words
    # The index's words are never taken back, so a word the cached vocabulary holds is
    # known for sure; only the others (typos, or words newer than the cache) are asked.
    known = spelling()
    unknown = {w for w in candidates if w not in known}
    unknown -= reader.known(unknown, language)
    if not unknown:
        return words
    return [(known.nearest(w) or w) if w in unknown else w for w in words]
