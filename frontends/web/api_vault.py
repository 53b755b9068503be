"""The funds vault's JSON API under /api/v1/vault: the caller's own postage account,
transfers, meters and reports; money enters only by payment (api_payments.py).
Amounts travel as ``{"amount": "12.34", "currency": "USD"}``.

Every object is looked up through the caller's account (``current_account()``), so
another account's meter or transfer answers 404 exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.ledger.model import (
    HistoryItem,
    LedgerAccount,
    MeterRegisters,
    Transfer,
    check_cost_center,
    client_transfer_id,
    parse_moment,
    parse_report_types,
)
from postroom.core.ledger.service import LedgerService
from postroom.core.money import Money
from postroom.core.refunds.model import claims_from_json
from postroom.core.text import check_no_control
from postroom.frontends.serialise import mills, stamp
from postroom.frontends.serialise.ledger import history_item_json, report_csv, report_json
from postroom.frontends.serialise.meters import reset_token_json
from postroom.frontends.serialise.refunds import refund_json
from postroom.frontends.web.arguments import int_arg
from postroom.frontends.web.auth import current_account
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object

bp = Blueprint("api_vault", __name__, url_prefix="/api/v1/vault")


def _vault() -> LedgerService:
    return current_postroom().ledger


def _number() -> str:
    return current_account().number


def _transfer_id(data: dict[str, Any]) -> str:
    """The ledger id of the id the caller chose: its own, whoever else chose the same."""
    return _vault().own_transfer_id(_number(), data["id"])


def _money(value: dict[str, str], field: str = "amount") -> Money:
    """A MoneyInput the document has checked, in the caller's account currency."""
    expected = current_account().currency
    if value["currency"].strip().upper() != expected:
        # Well formed, but not this account's currency: a conflict with its state.
        raise Conflict(
            f"{field} in {value['currency']!r} but the account is in {expected}",
            code="currency_mismatch",
        )
    return Money.from_json(value)


def _reference(data: dict[str, Any]) -> str:
    return check_no_control(data.get("reference", ""), "reference")


def _named(transfer_id: str) -> str:
    """The ledger id of a transfer the caller names in a path; one it cannot have is 404."""
    try:
        return _vault().own_transfer_id(_number(), transfer_id)
    except ValidationError:
        raise NotFound(f"no transfer {transfer_id!r}", code="transfer_not_found") from None


def _item_json(item: HistoryItem) -> dict[str, Any]:
    data = history_item_json(item)
    # the ids as the caller chose them (the ledger keeps them behind the account number)
    for field in ("id", "pending_id"):
        if data[field] is not None:
            data[field] = client_transfer_id(_number(), data[field])
    data["amount"] = mills(data.pop("amount_mills"), item.transfer.currency)
    del data["currency"]
    return data


def _status(transfer: Transfer) -> int:
    """201 for the request that made the transfer; 200 for a replay of it (same body)."""
    return 200 if transfer.replayed else 201


def _done(transfer: Transfer) -> dict[str, Any]:
    return _item_json(_vault().customer_transfer(_number(), transfer.id))


def _balance_json(account: LedgerAccount) -> dict[str, Any]:
    b, cur = account.balances, account.currency
    return {
        "customer_number": _number(),
        "account": account.code,
        "currency": cur,
        "balance": mills(b.balance, cur),
        "available": mills(b.available + account.credit_limit, cur),
        "reserved": mills(b.debits_pending, cur),
        "credit_limit": mills(account.credit_limit, cur),
        # bank debits on their way: not spendable until the bank has paid
        "pending": mills(b.credits_pending, cur),
        "pending_expected_at": stamp(current_postroom().funding.expected_by(_number())),
    }


def _meter_json(meter: MeterRegisters) -> dict[str, Any]:
    cur = meter.currency
    return {
        "serial": meter.serial,
        "operator": meter.operator,
        "status": meter.status,
        "descending": mills(meter.descending, cur),
        "ascending": mills(meter.ascending, cur),
        "control_sum": mills(meter.control_sum, cur),
        "pieces": meter.pieces,
    }


def _range() -> dict[str, Any]:
    args = request.args
    return {
        "since": parse_moment(args["from"]) if "from" in args else None,
        "until": parse_moment(args["to"], end=True) if "to" in args else None,
        "types": parse_report_types(args.getlist("type")),
    }


def _cost_center(value: str | None) -> str | None:
    return None if value is None else check_cost_center(value.strip())


# ------------------------------------------------------------------------- balance


@bp.get("/balance")
def balance() -> Response:
    return jsonify(_balance_json(_vault().balance(_number())))


# ----------------------------------------------------------------------- transfers


@bp.get("/transfers")
def transfers() -> Response:
    limit = int_arg("limit", 50)
    offset = int_arg("offset", 0)
    items = _vault().customer_transfers(_number(), limit=limit, offset=offset, **_range())
    return jsonify(
        {
            "items": [_item_json(i) for i in items],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(items) == limit else None,
        }
    )


@bp.get("/transfers/<transfer_id>")
def transfer(transfer_id: str) -> Response:
    return jsonify(_item_json(_vault().customer_transfer(_number(), _named(transfer_id))))


# No deposit route: a customer key credits its postage account only through a payment
# source's settled charge (POST /vault/payments); a manual deposit is a staff action with
# a reason, on the CLI (`postroom vault deposit`), audited. docs/security.md.


# -------------------------------------------------------------------------- meters


@bp.get("/meters")
def meters() -> Response:
    return jsonify(
        {"items": [_meter_json(m) for m in current_postroom().meters.funds.meters(_number())]}
    )


@bp.get("/meters/<serial>")
def meter(serial: str) -> Response:
    return jsonify(_meter_json(current_postroom().meters.funds.customer_meter(_number(), serial)))


@bp.post("/meters/<serial>/refills")
def refill(serial: str) -> tuple[Response, int]:
    data = request_object()
    transfer_id = _transfer_id(data)
    amount = _money(data["amount"])
    funds = current_postroom().meters.funds
    funds.customer_meter(_number(), serial)  # another account's meter: 404
    done = funds.refill(serial, amount, transfer_id, reference=_reference(data))
    registers = funds.customer_meter(_number(), serial)
    return jsonify(
        {
            "transfer": _done(done.transfer),
            "reset_token": done.token,
            "sequence": done.reset.sequence,
            "expires_at": reset_token_json(done.reset)["expires_at"],
            "meter": _meter_json(registers),
        }
    ), _status(done.transfer)


# ---------------------------------------------------- virtual-meter postage (PC/kiosk)


@bp.post("/reservations")
def reserve() -> tuple[Response, int]:
    data = request_object()
    transfer_id = _transfer_id(data)
    amount = _money(data["amount"])
    done = _vault().reserve_postage(
        _number(),
        amount,
        transfer_id,
        operator=data.get("operator", "USPS"),
        timeout_seconds=data.get("timeout_seconds"),
        reference=_reference(data),
        cost_center=_cost_center(data.get("cost_center")),
    )
    return jsonify(_done(done)), _status(done)


@bp.post("/reservations/<pending_id>/post")
def post_reservation(pending_id: str) -> tuple[Response, int]:
    data = request_object()
    transfer_id = _transfer_id(data)
    amount = _money(data["amount"]) if data.get("amount") is not None else None
    done = _vault().post_postage(_number(), _named(pending_id), transfer_id, amount)
    return jsonify(_done(done)), _status(done)


@bp.post("/reservations/<pending_id>/void")
def void_reservation(pending_id: str) -> tuple[Response, int]:
    data = request_object()
    transfer_id = _transfer_id(data)
    done = _vault().void_postage(_number(), _named(pending_id), transfer_id)
    return jsonify(_done(done)), _status(done)


# ------------------------------------------------------------------------- reports


@bp.get("/report")
def report() -> Response:
    fmt = request.args.get("format")
    if fmt is None:
        best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
        fmt = "csv" if best == "text/csv" else "json"
    if fmt not in ("csv", "json"):
        raise ValidationError("format is csv or json", code="invalid_format")
    meter_serial = request.args.get("meter")
    result = _vault().report(
        _number(),
        meter=meter_serial,
        cost_center=_cost_center(request.args.get("cost_center")),
        **_range(),
    )
    if fmt == "csv":
        return Response(
            report_csv(result),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="postroom-report.csv"'},
        )
    return jsonify(report_json(result))


# ------------------------------------------------------------------------- refunds
# A customer asks; an agent decides (CLI `postroom vault refund approve|reject`).


@bp.post("/refunds")
def request_refund() -> tuple[Response, int]:
    data = request_object()
    pieces = data["pieces"]
    for item in pieces:
        _money(item["face"], "face")  # another currency is a conflict, as for amounts
    claims = claims_from_json(pieces, current_account().currency)
    done = current_postroom().refunds.request(
        _number(),
        data["id"],
        data["meter"],
        claims,
        data["reason"],
        note=data.get("note", ""),
        public_key_pem=data.get("public_key"),
    )
    return jsonify(refund_json(done)), 200 if done.replayed else 201


@bp.get("/refunds")
def refunds() -> Response:
    limit = int_arg("limit", 50)
    offset = int_arg("offset", 0)
    found = current_postroom().refunds.list(
        _number(), status=request.args.get("status"), limit=limit, offset=offset
    )
    return jsonify(
        {
            "items": [refund_json(r) for r in found],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if len(found) == limit else None,
        }
    )


@bp.get("/refunds/<refund_id>")
def refund(refund_id: str) -> Response:
    return jsonify(refund_json(current_postroom().refunds.get(_number(), refund_id)))
