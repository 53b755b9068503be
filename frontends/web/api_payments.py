"""Funding under /api/v1/vault: the caller's payment instruments, payments and
auto-refill rule, the registered payment sources, the credit line's statements.

Every object is looked up through the caller's account, so another account's
instrument or payment answers 404 exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from postroom.core.funding.model import AutoRefillRule, Payment
from postroom.core.funding.service import FundingService
from postroom.core.idempotency import check_key
from postroom.core.money import Money
from postroom.frontends.serialise import money, stamp
from postroom.frontends.serialise.funding import (
    auto_refill_json,
    instrument_json,
    payment_json,
    statement_json,
)
from postroom.frontends.serialise.payouts import payout_json
from postroom.frontends.web.api_vault import _money
from postroom.frontends.web.arguments import int_arg
from postroom.frontends.web.auth import current_account
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object

bp = Blueprint("api_vault_payments", __name__, url_prefix="/api/v1/vault")


def _funding() -> FundingService:
    return current_postroom().funding


def _number() -> str:
    return current_account().number


def _optional_money(data: dict[str, Any], field: str) -> Money | None:
    value = data.get(field)
    return None if value is None else _money(value, field)


def _payment_json(payment: Payment) -> dict[str, Any]:
    # when a bank debit on its way is expected to be spendable (null once it is not pending)
    expected = _funding().expected_settlement(payment)
    return {**payment_json(payment), "expected_settlement_at": stamp(expected)}


def _rule_json(rule: AutoRefillRule | None) -> dict[str, Any]:
    if rule is None:
        return {"enabled": False}
    return {"enabled": True, **auto_refill_json(rule)}


# ----------------------------------------------------------------------- sources


@bp.get("/payment-sources")
def payment_sources() -> Response:
    # A sandbox source refused in production is not offered at all.
    sources = sorted(_funding().offered_sources().values(), key=lambda s: s.code)
    return jsonify(
        {
            "items": [
                {
                    "code": s.code,
                    "name": s.name,
                    "kind": s.kind,
                    "currencies": list(s.currencies),
                    "self_service": s.self_service,
                }
                for s in sources
            ]
        }
    )


# ------------------------------------------------------------------- instruments


@bp.get("/instruments")
def instruments() -> Response:
    return jsonify({"items": [instrument_json(i) for i in _funding().instruments(_number())]})


@bp.post("/instruments")
def add_instrument() -> tuple[Response, int]:
    data = request_object()
    added = _funding().add_instrument(
        _number(), data["source"], data.get("fields", {}), self_service=True
    )
    return jsonify(instrument_json(added)), 201


@bp.get("/instruments/<instrument_id>")
def instrument(instrument_id: str) -> Response:
    return jsonify(instrument_json(_funding().instrument(_number(), instrument_id)))


@bp.delete("/instruments/<instrument_id>")
def remove_instrument(instrument_id: str) -> Response:
    return jsonify(instrument_json(_funding().remove_instrument(_number(), instrument_id)))


# ---------------------------------------------------------------------- payments


@bp.get("/payments")
def payments() -> Response:
    limit = int_arg("limit", 50)
    offset = int_arg("offset", 0)
    found = _funding().payments(_number(), limit=limit, offset=offset)
    return jsonify(
        {
            "items": [_payment_json(p) for p in found],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(found) == limit else None,
        }
    )


@bp.get("/payments/<payment_id>")
def payment(payment_id: str) -> Response:
    return jsonify(_payment_json(_funding().payment(_number(), payment_id)))


@bp.post("/payments")
def pay() -> tuple[Response, int]:
    """Collect an amount from one of the caller's instruments into its postage account."""
    data = request_object()
    key = check_key(data["id"])
    instrument_id = data["instrument_id"]
    amount = _money(data["amount"])
    done = _funding().deposit(_number(), instrument_id, amount, key)
    # 201 for the request that made the payment; 200 for a replay of it (same body)
    return jsonify(_payment_json(done)), 200 if done.replayed else 201


# ------------------------------------------------------------------- auto-refill


@bp.get("/auto-refill")
def auto_refill() -> Response:
    return jsonify(_rule_json(_funding().auto_refill(_number())))


@bp.put("/auto-refill")
def set_auto_refill() -> Response:
    data = request_object()
    rule = _funding().set_auto_refill(
        _number(),
        _money(data["threshold"], "threshold"),
        amount=_optional_money(data, "amount"),
        daily_cap=_optional_money(data, "daily_cap"),
        instrument_id=data.get("instrument_id"),
    )
    return jsonify(_rule_json(rule))


@bp.delete("/auto-refill")
def disable_auto_refill() -> Response:
    return jsonify({"removed": _funding().disable_auto_refill(_number())})


# -------------------------------------------------------------------- statements


@bp.get("/statements/<month>")
def statement(month: str) -> Response:
    return jsonify(statement_json(_funding().statement(_number(), month)))


# ----------------------------------------------------------------------- payouts


@bp.get("/payouts")
def payouts() -> Response:
    """A closed account's funds paid back through the payment sources they came from."""
    pr = current_postroom()
    found = pr.payouts.payouts(_number(), limit=int_arg("limit", 50))
    return jsonify(
        {
            "items": [payout_json(p) for p in found],
            "payable": money(pr.payouts.payable(_number())),
        }
    )


@bp.get("/payouts/<payout_id>")
def payout(payout_id: str) -> Response:
    return jsonify(payout_json(current_postroom().payouts.payout(_number(), payout_id)))
