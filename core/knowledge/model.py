"""Articles of the knowledge base: values and pure rules, no I/O.

An article is one text in one language. Its translations share its ``family`` (a
language-neutral key such as ``inspection-due``); related articles are named by family
too, so a French page links to the French texts of the same related articles. Every
edit keeps the previous title and body as a numbered version.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import attrs
import nh3
from markdown_it import MarkdownIt

from postroom.core.errors import ValidationError
from postroom.core.text import check_no_control

MAX_TITLE = 200
MAX_BODY = 100_000
MAX_AUTHOR = 200
MAX_RELATED = 10
MAX_QUERY = 500
_KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_KEY = 80


class Language(StrEnum):
    EN = "en"
    FR = "fr"


class Product(StrEnum):
    """What an article is about, as the help centre groups them."""

    METERS = "meters"
    SOFTWARE = "software"
    SHIPPING = "shipping"
    BILLING = "billing"


class Status(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


@attrs.frozen
class Draft:
    """What an author writes: everything of an article but its history."""

    family: str
    slug: str
    language: Language
    title: str
    body: str
    product: Product
    topic: str
    related: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The draft's fields by name: an article's of the same names."""
        return _draft_fields(self)


#: What an author writes of an article (``Draft``'s fields, which ``Article`` has too).
_DRAFT_FIELDS = tuple(field.name for field in attrs.fields(Draft))


def _draft_fields(source: object) -> dict[str, Any]:
    """``source``'s values of the draft's fields (a draft's, or an article's)."""
    return {name: getattr(source, name) for name in _DRAFT_FIELDS}


@attrs.define
class Article:
    id: int
    family: str
    slug: str
    language: Language
    title: str
    body: str
    product: Product
    topic: str
    status: Status
    author: str
    version: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    related: tuple[str, ...] = ()
    #: The plain text the store keeps beside ``body`` (rendered when it was written),
    #: as (body, text): ``text`` trusts it only while the body is still that one.
    _stored_text: tuple[str, str] | None = attrs.field(
        default=None, eq=False, repr=False, kw_only=True, alias="stored_text"
    )

    @property
    def html(self) -> str:
        return render(self.body)

    @property
    def text(self) -> str:
        stored = self._stored_text
        if stored is not None and stored[0] == self.body:
            return stored[1]
        return plain_text(self.body)

    def draft(self) -> Draft:
        return Draft(**_draft_fields(self))


@attrs.frozen
class Version:
    """An article's title and body as they were at ``version``."""

    article_id: int
    version: int
    title: str
    body: str
    author: str
    at: datetime


@attrs.frozen
class Hit:
    """One search result: the article, its rank (higher is better) and a highlighted
    HTML excerpt."""

    article: Article
    score: float
    snippet: str


@attrs.frozen
class SearchResult:
    query: str
    language: Language
    hits: tuple[Hit, ...]
    #: the query as searched when typos were corrected, else None
    corrected: str | None = None
    #: whether the hits hold every word (else they hold some: the fallback)
    matched_all: bool = True


@attrs.frozen
class VoteCount:
    article_id: int
    slug: str
    title: str
    language: Language
    helpful: int
    not_helpful: int


@attrs.frozen
class MissedSearch:
    """A query that found nothing, how often and when last."""

    query: str
    language: Language
    count: int
    last_at: datetime


@attrs.frozen
class DeflectionReport:
    #: case forms where the customer read at least one suggested article
    read: int
    #: of those, the ones that never became a case
    deflected: int

    @property
    def opened_anyway(self) -> int:
        """Case forms where the customer read an article and still opened the case."""
        return self.read - self.deflected

    @property
    def rate(self) -> float:
        return self.deflected / self.read if self.read else 0.0


# ------------------------------------------------------------------ rendering

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {
    "a", "p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td", "br", "hr",
}  # fmt: skip


def render(body: str) -> str:
    """The article's Markdown as HTML safe to show: raw HTML in the source is escaped
    by the renderer, and nh3 keeps only the tags above (links get rel=noopener)."""
    return nh3.clean(
        _MARKDOWN.render(body),
        tags=_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


@lru_cache(maxsize=2048)
def plain_text(body: str) -> str:
    """The article's words without markup, for the index and the snippets (kept for
    the articles read most: rendering is most of a search's snippet)."""
    rendered = _MARKDOWN.render(body)
    text = nh3.clean(rendered, tags=set())
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


# ------------------------------------------------------------------ parsers


def _choice(enum: type[StrEnum], value: object, code: str, what: str) -> str:
    clean = value.strip().lower() if isinstance(value, str) else ""
    known = [member.value for member in enum]
    if clean not in known:
        raise ValidationError(f"{what} is one of {', '.join(known)}", code=code)
    return clean


def parse_language(value: object) -> Language:
    return Language(_choice(Language, value, "invalid_language", "a language"))


def parse_product(value: object) -> Product:
    return Product(_choice(Product, value, "invalid_product", "a product"))


def parse_status(value: object) -> Status:
    return Status(_choice(Status, value, "invalid_status", "a status"))


def parse_key(value: object, what: str = "slug") -> str:
    """A slug, family or topic: lower-case words joined by hyphens."""
    clean = value.strip().lower() if isinstance(value, str) else ""
    if not clean or len(clean) > MAX_KEY or not _KEY.fullmatch(clean):
        raise ValidationError(
            f"a {what} is lower-case letters, digits and hyphens (at most {MAX_KEY})",
            code=f"invalid_{what}",
        )
    return clean


def parse_title(value: object) -> str:
    clean = value.strip() if isinstance(value, str) else ""
    if not clean:
        raise ValidationError("an article needs a title", code="missing_title")
    if len(clean) > MAX_TITLE:
        raise ValidationError(f"a title is at most {MAX_TITLE} characters", code="title_too_long")
    return check_no_control(clean, "title")


def parse_body(value: object) -> str:
    clean = value.strip() if isinstance(value, str) else ""
    if not clean:
        raise ValidationError("an article needs a body", code="missing_body")
    if len(clean) > MAX_BODY:
        raise ValidationError(f"a body is at most {MAX_BODY} characters", code="body_too_long")
    return check_no_control(clean.replace("\r\n", "\n"), "body", multiline=True)


def parse_author(value: object) -> str:
    clean = value.strip() if isinstance(value, str) else ""
    if not clean or len(clean) > MAX_AUTHOR:
        raise ValidationError("an article needs its author", code="invalid_author")
    return check_no_control(clean, "author")


def parse_related(values: object, family: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    if not isinstance(values, (list, tuple)):
        raise ValidationError("related articles are a list of families", code="invalid_related")
    keys = tuple(dict.fromkeys(parse_key(v, "related") for v in values))
    if family in keys:
        raise ValidationError("an article is not related to itself", code="invalid_related")
    if len(keys) > MAX_RELATED:
        raise ValidationError(f"at most {MAX_RELATED} related articles", code="invalid_related")
    return keys


def make_draft(
    *,
    family: object,
    slug: object,
    language: object,
    title: object,
    body: object,
    product: object,
    topic: object,
    related: object = (),
) -> Draft:
    """An author's input checked field by field (each error has its own code)."""
    clean_family = parse_key(family, "family")
    return Draft(
        family=clean_family,
        slug=parse_key(slug),
        language=parse_language(language),
        title=parse_title(title),
        body=parse_body(body),
        product=parse_product(product),
        topic=parse_key(topic, "topic"),
        related=parse_related(related, clean_family),
    )


_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def is_deflection_token(value: object) -> bool:
    """Whether ``value`` has the shape of a new-case form's deflection token (32 random
    bytes, base64url)."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def parse_query(value: object) -> str:
    """A search query: some words, at most ``MAX_QUERY`` characters."""
    clean = " ".join(value.split()) if isinstance(value, str) else ""
    if not clean:
        raise ValidationError("type a few words to search for", code="empty_query")
    if len(clean) > MAX_QUERY:
        raise ValidationError(f"a search is at most {MAX_QUERY} characters", code="query_too_long")
    return check_no_control(clean, "query")


# ------------------------------------------------------------------ rules


def can_transition(current: Status, target: Status) -> bool:
    """Drafts are published; published articles archived; archived ones published
    again or sent back to draft. Publishing what is published is a no-op, not an error."""
    return target == current or (current, target) in {
        (Status.DRAFT, Status.PUBLISHED),
        (Status.PUBLISHED, Status.ARCHIVED),
        (Status.PUBLISHED, Status.DRAFT),
        (Status.ARCHIVED, Status.PUBLISHED),
        (Status.ARCHIVED, Status.DRAFT),
    }
