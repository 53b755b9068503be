"""Billing under /api/v1: the caller's invoices and credit notes, their PDFs, paying
one, the account statement (JSON and CSV) and how the account is billed.

Every invoice is looked up through the caller's account, so another account's invoice
answers 404 exactly like a missing one.
"""

from __future__ import annotations

import re
from datetime import date

import attrs
from flask import Blueprint, Response, jsonify, request

from postroom.core.billing.service import BillingService
from postroom.core.errors import ValidationError
from postroom.core.idempotency import check_key
from postroom.frontends.serialise import billing as serialise
from postroom.frontends.serialise import money
from postroom.frontends.web.arguments import int_arg
from postroom.frontends.web.auth import current_account
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object

bp = Blueprint("api_billing", __name__, url_prefix="/api/v1")

DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _billing() -> BillingService:
    return current_postroom().billing


def _number() -> str:
    return current_account().number


def _day_arg(name: str) -> date | None:
    text = request.args.get(name)
    if text is None:
        return None
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{name} is a day, YYYY-MM-DD", code="invalid_period") from None


@attrs.frozen
class _Filters:
    """The list's filters from the query: status, and the period of issue."""

    status: str | None
    since: date | None
    until: date | None

    @classmethod
    def from_query(cls) -> _Filters:
        return cls(request.args.get("status"), _day_arg("since"), _day_arg("until"))


@bp.get("/invoices")
def invoices() -> Response:
    limit = int_arg("limit", 50)
    offset = int_arg("offset", 0)
    billing = _billing()
    f = _Filters.from_query()
    found = billing.list(
        _number(), status=f.status, since=f.since, until=f.until, limit=limit, offset=offset
    )
    statement = billing.account_statement(_number(), limit=1)
    today = billing.today()
    return jsonify(
        {
            "items": [serialise.invoice_summary(i, today) for i in found],
            "balance_due": money(statement.balance_due),
            "overdue": money(statement.overdue),
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(found) == limit else None,
        }
    )


@bp.get("/invoices/<number>")
def invoice(number: str) -> Response:
    billing = _billing()
    return jsonify(serialise.invoice(billing.get(_number(), number), billing.today()))


@bp.get("/invoices/<number>/pdf")
def invoice_pdf(number: str) -> Response:
    document = _billing().pdf(_number(), number)
    response = Response(document, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{number.upper()}.pdf"'
    return response


@bp.post("/invoices/<number>/payments")
def pay_invoice(number: str) -> Response:
    """Pay one of the caller's open invoices from one of its instruments (idempotent by
    id: the same id again answers the paid invoice, never a second charge)."""
    data = request_object()
    key = check_key(data["id"])
    billing = _billing()
    paid = billing.pay(_number(), number, data["instrument_id"], key)
    return jsonify(serialise.invoice(paid, billing.today()))


@bp.get("/billing/statement")
def statement() -> Response:
    f = _Filters.from_query()
    found = _billing().account_statement(_number(), status=f.status, since=f.since, until=f.until)
    return jsonify(serialise.statement(found))


@bp.get("/billing/statement.csv")
def statement_csv() -> Response:
    billing = _billing()
    f = _Filters.from_query()
    found = billing.account_statement(_number(), status=f.status, since=f.since, until=f.until)
    text = serialise.statement_csv(found, billing.payments(_number()))
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="statement-{found.customer_number}-{found.day.isoformat()}.csv"'
    )
    return response


@bp.get("/billing/profile")
def profile() -> Response:
    return jsonify(serialise.profile(_billing().profile(_number())))


@bp.put("/billing/profile")
def set_profile() -> Response:
    data = request_object()
    billing = _billing()
    found = billing.set_profile(
        _number(),
        region=data.get("region"),
        language=data.get("language"),
        paperless=data.get("paperless"),
        billing_address=data.get("billing_address"),
    )
    if "auto_debit_instrument" in data:
        found = billing.set_auto_debit(_number(), data["auto_debit_instrument"])
    return jsonify(serialise.profile(found))
