"""Funding under /api/v1/vault: the caller's payment instruments, payments and
auto-refill rule, the registered payment sources, the credit line's statements.

Every object is looked up through the caller's account, so another account's
instrument or payment answers 404 exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from postroom.core.errors import ValidationError
from postroom.core.funding.model import AutoRefillRule, Payment, stamp
from postroom.core.funding.service import FundingService
from postroom.core.idempotency import check_key
from postroom.core.money import Money
from postroom.frontends.web.api_vault import _int_arg, _money
from postroom.frontends.web.auth import current_account
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.jsonbody import json_object

bp = Blueprint("api_vault_payments", __name__, url_prefix="/api/v1/vault")

#: Most fields an instrument may carry.
MAX_FIELDS = 20


def _funding() -> FundingService:
    return current_postroom().funding


def _number() -> str:
    return current_account().number


def _text(data: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = data.get(field)
    if value is None and not required:
        return None
    if value is None:
        raise ValidationError(f"{field!r} is required", code="missing_field", field=field)
    if not isinstance(value, str):
        raise ValidationError(f"{field} is a string", code="invalid_field", field=field)
    return value


def _optional_money(data: dict[str, Any], field: str) -> Money | None:
    value = data.get(field)
    return None if value is None else _money(value, field)


def _payment_json(payment: Payment) -> dict[str, Any]:
    # when a bank debit on its way is expected to be spendable (null once it is not pending)
    expected = _funding().expected_settlement(payment)
    return {**payment.to_json(), "expected_settlement_at": stamp(expected)}


def _rule_json(rule: AutoRefillRule | None) -> dict[str, Any]:
    if rule is None:
        return {"enabled": False}
    return {"enabled": True, **rule.to_json()}


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
    return jsonify({"items": [i.to_json() for i in _funding().instruments(_number())]})


@bp.post("/instruments")
def add_instrument() -> tuple[Response, int]:
    data = json_object()
    source = _text(data, "source")
    fields = data.get("fields", {})
    if (
        not isinstance(fields, dict)
        or len(fields) > MAX_FIELDS
        or not all(isinstance(v, str) for v in fields.values())
    ):
        raise ValidationError(
            "fields is an object of at most 20 string values", code="invalid_instrument"
        )
    assert source is not None
    added = _funding().add_instrument(_number(), source, fields, self_service=True)
    return jsonify(added.to_json()), 201


@bp.get("/instruments/<instrument_id>")
def instrument(instrument_id: str) -> Response:
    return jsonify(_funding().instrument(_number(), instrument_id).to_json())


@bp.delete("/instruments/<instrument_id>")
def remove_instrument(instrument_id: str) -> Response:
    return jsonify(_funding().remove_instrument(_number(), instrument_id).to_json())


# ---------------------------------------------------------------------- payments


@bp.get("/payments")
def payments() -> Response:
    limit = _int_arg("limit", 50)
    offset = _int_arg("offset", 0)
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
    data = json_object()
    key = check_key(_text(data, "id"))
    instrument_id = _text(data, "instrument_id")
    if "amount" not in data:
        raise ValidationError("'amount' is required", code="missing_field", field="amount")
    amount = _money(data["amount"])
    assert instrument_id is not None
    done = _funding().deposit(_number(), instrument_id, amount, key)
    # 201 for the request that made the payment; 200 for a replay of it (same body)
    return jsonify(_payment_json(done)), 200 if done.replayed else 201


# ------------------------------------------------------------------- auto-refill


@bp.get("/auto-refill")
def auto_refill() -> Response:
    return jsonify(_rule_json(_funding().auto_refill(_number())))


@bp.put("/auto-refill")
def set_auto_refill() -> Response:
    data = json_object()
    if "threshold" not in data:
        raise ValidationError("'threshold' is required", code="missing_field", field="threshold")
    rule = _funding().set_auto_refill(
        _number(),
        _money(data["threshold"], "threshold"),
        amount=_optional_money(data, "amount"),
        daily_cap=_optional_money(data, "daily_cap"),
        instrument_id=_text(data, "instrument_id", required=False),
    )
    return jsonify(_rule_json(rule))


@bp.delete("/auto-refill")
def disable_auto_refill() -> Response:
    return jsonify({"removed": _funding().disable_auto_refill(_number())})


# -------------------------------------------------------------------- statements


@bp.get("/statements/<month>")
def statement(month: str) -> Response:
    return jsonify(_funding().statement(_number(), month).to_json())


# ----------------------------------------------------------------------- payouts


@bp.get("/payouts")
def payouts() -> Response:
    """A closed account's funds paid back through the payment sources they came from."""
    pr = current_postroom()
    found = pr.payouts.payouts(_number(), limit=_int_arg("limit", 50))
    return jsonify(
        {
            "items": [p.to_json() for p in found],
            "payable": pr.payouts.payable(_number()).to_json(),
        }
    )


@bp.get("/payouts/<payout_id>")
def payout(payout_id: str) -> Response:
    return jsonify(current_postroom().payouts.payout(_number(), payout_id).to_json())
