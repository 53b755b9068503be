"""Knowledge-base articles and search results as the API and ``postroom kb --json``
write them."""

from __future__ import annotations

from typing import Any

from postroom.core.knowledge.model import Article, Hit, SearchResult
from postroom.frontends.serialise import stamp


def article_summary(article: Article) -> dict[str, Any]:
    return {
        "slug": article.slug,
        "family": article.family,
        "language": article.language.value,
        "title": article.title,
        "product": article.product.value,
        "topic": article.topic,
        "status": article.status.value,
        "version": article.version,
        "updated_at": stamp(article.updated_at),
    }


def article(
    found: Article, *, translations: list[Article], related: list[Article]
) -> dict[str, Any]:
    """The whole article: its Markdown and its sanitised HTML."""
    return {
        **article_summary(found),
        "author": found.author,
        "body": found.body,
        "html": found.html,
        "published_at": stamp(found.published_at),
        "translations": [{"language": a.language.value, "slug": a.slug} for a in translations],
        "related": [{"slug": a.slug, "title": a.title} for a in related],
    }


def hit(found: Hit) -> dict[str, Any]:
    return {
        **article_summary(found.article),
        "score": round(found.score, 6),
        "snippet": found.snippet,
    }


def search_result(result: SearchResult) -> dict[str, Any]:
    return {
        "query": result.query,
        "language": result.language.value,
        "corrected": result.corrected,
        "results": [hit(h) for h in result.hits],
    }
