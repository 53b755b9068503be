"""Webhook subscriptions under /api/v1/webhooks (docs/tracking.md, "Webhook alerts").

The account's API key (or a signed-in portal user with the page's CSRF token) manages
that account's subscriptions only: another account's answers 404
``subscription_not_found`` like a missing one. The signing secret is in the creation's
answer and never again.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from postroom.core.errors import NotFound
from postroom.frontends.serialise.tracking import subscription_json
from postroom.frontends.web.auth import current_account
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object

bp = Blueprint("api_webhooks", __name__, url_prefix="/api/v1/webhooks")


def _id(text: str) -> int:
    """A subscription id from the path; anything else is one nobody has."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise NotFound(f"no subscription {text[:40]!r}", code="subscription_not_found")
    return int(text)


@bp.post("")
def create_subscription() -> tuple[Response, int]:
    data = request_object()
    made = current_postroom().tracking.subscribe(
        current_account().number,
        data["url"],
        shipment_id=data.get("shipment_id"),
        events=data.get("events"),
    )
    return jsonify(subscription_json(made, with_secret=True)), 201


@bp.get("")
def list_subscriptions() -> Response:
    found = current_postroom().tracking.subscriptions(current_account().number)
    return jsonify({"items": [subscription_json(s) for s in found]})


@bp.get("/<subscription_id>")
def get_subscription(subscription_id: str) -> Response:
    found = current_postroom().tracking.subscription(current_account().number, _id(subscription_id))
    return jsonify(subscription_json(found))


@bp.delete("/<subscription_id>")
def delete_subscription(subscription_id: str) -> tuple[str, int]:
    current_postroom().tracking.unsubscribe(current_account().number, _id(subscription_id))
    return "", 204
