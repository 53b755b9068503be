"""Support cases in the JSON API under /api/v1/cases: a customer's own cases.

Who may call: a customer account's API key, or a signed-in portal user of the account
with the page's CSRF token. Every case is looked up through the caller's account, so
another account's case answers 404 ``case_not_found`` exactly like a missing one;
internal notes never leave the staff side. Opening from the API is the web channel.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from postroom.core.cases.model import Actor, Link, parse_link
from postroom.core.cases.service import CasesService
from postroom.frontends.serialise.cases import case_json, claim_json, detail_json
from postroom.frontends.web.arguments import int_arg
from postroom.frontends.web.auth import current_account
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object
from postroom.frontends.web.signin import current_user

bp = Blueprint("api_cases", __name__, url_prefix="/api/v1/cases")
MAX_PAGE = 100


def _cases() -> CasesService:
    return current_postroom().cases


def _actor() -> Actor:
    account = current_account()
    user = current_user()
    if user is not None and user.account_number == account.number:
        return Actor.customer(account.number, user.user_id, user.name)
    return Actor.customer(account.number, "", "API")


def _detail(number: str) -> dict[str, Any]:
    cases = _cases()
    detail = cases.get(current_account().number, number)
    return detail_json(detail, cases.sla(detail.case), staff=False)


@bp.get("")
def list_cases() -> Response:
    cases = _cases()
    found = cases.list(
        current_account().number,
        status=request.args.get("status") or None,
        limit=int_arg("limit", 50, 1, MAX_PAGE),
        offset=int_arg("offset", 0, 0, 10**9),
    )
    views = cases.slas(found)
    return jsonify(
        {"items": [case_json(c, v, staff=False) for c, v in zip(found, views, strict=True)]}
    )


@bp.post("")
def open_case() -> tuple[Response, int]:
    data = request_object()
    links: list[Link] = [
        parse_link(item["kind"], item["reference"]) for item in data.get("links", [])
    ]
    case = _cases().open(
        by=_actor(),
        subject=data["subject"],
        description=data["description"],
        channel="web",
        priority=data.get("priority", "normal"),
        department=data.get("department"),
        links=links,
    )
    return jsonify(_detail(case.number)), 201


@bp.get("/<number>")
def show_case(number: str) -> Response:
    return jsonify(_detail(number))


@bp.post("/<number>/messages")
def reply(number: str) -> tuple[Response, int]:
    data = request_object()
    posted = _cases().add_customer_message(number, data["body"], by=_actor(), channel="web")
    body = _detail(posted.case.number)
    body["follow_up"] = posted.follow_up
    return jsonify(body), 201


@bp.post("/<number>/close")
def close(number: str) -> Response:
    _cases().close(number, by=_actor())
    return jsonify(_detail(number))


@bp.get("/<number>/claim")
def show_claim(number: str) -> Response:
    view = _cases().claim(current_account().number, number)
    return jsonify({"number": view.case.number, **claim_json(view.claim)})
