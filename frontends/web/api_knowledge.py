"""``/api/v1/articles``: the help centre's published articles, for anyone (no key):
search them, read one, and the suggestions a new-case form shows while its customer
types. The answers are ``postroom kb --json``'s shapes (frontends/serialise/knowledge.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from postroom.core.errors import ValidationError
from postroom.core.knowledge.model import is_deflection_token
from postroom.frontends.serialise import knowledge as serialise
from postroom.frontends.web.arguments import int_arg
from postroom.frontends.web.auth import public
from postroom.frontends.web.context import current_postroom

bp = Blueprint("api_knowledge", __name__, url_prefix="/api/v1/articles")

MAX_LIMIT = 50


def _limit() -> int:
    return int_arg("limit", 10, 1, MAX_LIMIT)


def _language() -> str:
    return request.args.get("language", "en")


@bp.get("")
@public
def search() -> Response:
    """With ``q``: the published articles matching it, best first, with highlighted
    snippets. Without: every published article of the language (by product and topic)."""
    knowledge = current_postroom().knowledge
    query = request.args.get("q")
    product = request.args.get("product") or None
    topic = request.args.get("topic") or None
    if query is None:
        found = knowledge.list(language=_language(), product=product, topic=topic)
        return jsonify({"articles": [serialise.article_summary(a) for a in found]})
    result = knowledge.search(query, _language(), limit=_limit(), product=product, topic=topic)
    return jsonify(serialise.search_result(result))


@bp.get("/suggestions")
@public
def suggestions() -> Response:
    """Articles for a new case's ``subject`` and ``description`` as they are typed
    (not counted as searches). ``token``, the form's deflection token (a new one when
    absent), goes into each article's ``url`` so that reading it is counted."""
    knowledge = current_postroom().knowledge
    subject = request.args.get("subject", "")
    description = request.args.get("description", "")
    if len(subject) > 200 or len(description) > 10_000:
        raise ValidationError("a subject is at most 200 characters", code="text_too_long")
    token = request.args.get("token", "")
    if not is_deflection_token(token):
        token = knowledge.new_deflection_token()
    hits = knowledge.suggest(subject, description, _language(), limit=_limit())
    return jsonify(
        {
            "token": token,
            "results": [
                {
                    **serialise.hit(h),
                    "url": url_for("help.article", slug=h.article.slug) + f"?from={token}",
                }
                for h in hits
            ],
        }
    )


@bp.get("/<slug>")
@public
def article(slug: str) -> Response:
    knowledge = current_postroom().knowledge
    found = knowledge.get(slug)
    return jsonify(
        serialise.article(
            found, translations=knowledge.translations(found), related=knowledge.related(found)
        )
    )
