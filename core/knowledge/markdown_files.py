"""Articles as Markdown files with front matter, for writing them in a repository
(``postroom kb import`` / ``export``) and for the articles postroom ships
(``articles/``, loaded by the demo).

    ---
    family: inspection-due
    slug: inspection-due
    language: en
    title: Your meter's inspection is due, or the meter is locked
    product: meters
    topic: inspections
    status: published
    related: what-a-sync-does, connect-pc
    ---
    The body, in Markdown.

Front matter is ``key: value`` lines, nothing more (no YAML dependency for six fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

from postroom.core.errors import ValidationError
from postroom.core.knowledge import model
from postroom.core.knowledge.model import Article, Draft, Status

_FENCE = "---"
_KEYS = ("family", "slug", "language", "title", "product", "topic", "status", "related")
_REQUIRED = ("family", "slug", "language", "title", "product", "topic")


def parse(text: str, name: str = "article") -> tuple[Draft, Status]:
    """The draft and the status an article file describes; ValidationError
    ``invalid_front_matter`` (naming the file) when its header is not right, or a
    field's own code when a value is wrong."""
    lines = text.replace("\r\n", "\n").lstrip("\ufeff").split("\n")
    if not lines or lines[0].strip() != _FENCE or _FENCE not in (s.strip() for s in lines[1:]):
        raise _bad(name, "it does not start with a --- front matter block")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    fields: dict[str, str] = {}
    for line in lines[1:end]:
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon or key not in _KEYS:
            raise _bad(name, f"unknown front matter line {line.strip()[:40]!r}")
        fields[key] = value.strip()
    missing = [key for key in _REQUIRED if not fields.get(key)]
    if missing:
        raise _bad(name, f"front matter lacks {', '.join(missing)}")
    draft = model.make_draft(
        family=fields["family"],
        slug=fields["slug"],
        language=fields["language"],
        title=fields["title"],
        body="\n".join(lines[end + 1 :]),
        product=fields["product"],
        topic=fields["topic"],
        related=fields.get("related", ""),
    )
    status = model.parse_status(fields.get("status") or "draft")
    return draft, status


def write(article: Article) -> str:
    """The file of ``article``: what ``parse`` reads back into the same draft."""
    header = [
        _FENCE,
        f"family: {article.family}",
        f"slug: {article.slug}",
        f"language: {article.language.value}",
        f"title: {article.title}",
        f"product: {article.product.value}",
        f"topic: {article.topic}",
        f"status: {article.status.value}",
    ]
    if article.related:
        header.append(f"related: {', '.join(article.related)}")
    header.append(_FENCE)
    return "\n".join(header) + "\n" + article.body + "\n"


def file_name(article: Article) -> str:
    return f"{article.language.value}/{article.slug}.md"


def shipped_articles() -> Iterator[tuple[str, str]]:
    """The (name, text) of every article postroom ships, English then French."""
    root = resources.files("postroom.core.knowledge").joinpath("articles")
    for language in ("en", "fr"):
        folder = root.joinpath(language)
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".md"):
                yield f"{language}/{entry.name}", entry.read_text(encoding="utf-8")


def _bad(name: str, why: str) -> ValidationError:
    return ValidationError(f"{name}: {why}", code="invalid_front_matter")
