"""Funding's objects as the API and ``postroom vault|payments --json`` write them."""

from __future__ import annotations

from typing import Any

from cattrs.gen import make_dict_unstructure_fn, override

from postroom.core.funding.model import (
    AutoRefillRule,
    Instrument,
    ManualDeposit,
    Payment,
    Statement,
)
from postroom.frontends.serialise import converter, mills, money, optional_money, stamp

# the instrument's details (account numbers, a card's digits) never leave the server
converter.register_unstructure_hook(
    Instrument,
    make_dict_unstructure_fn(
        Instrument, converter, customer_number=override(omit=True), details=override(omit=True)
    ),
)


def manual_deposit_json(deposit: ManualDeposit) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(deposit)
    return data


def instrument_json(instrument: Instrument) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(instrument)
    return data


def payment_json(payment: Payment) -> dict[str, Any]:
    currency = payment.amount.currency
    return {
        "id": payment.id,
        "instrument_id": payment.instrument_id,
        "source": payment.source,
        "kind": payment.kind,
        "amount": money(payment.amount),
        "idempotency_key": payment.idempotency_key,
        "status": payment.status.value,
        "source_reference": payment.source_reference,
        "transfer_id": payment.transfer_id,
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "return_reason": payment.return_reason,
        "outstanding": mills(payment.outstanding, currency),
        "refunded": mills(payment.refunded, currency),
        "created_at": stamp(payment.created_at),
        "updated_at": stamp(payment.updated_at),
    }


def auto_refill_json(rule: AutoRefillRule) -> dict[str, Any]:
    return {
        "threshold": money(rule.threshold),
        "amount": optional_money(rule.amount),
        "daily_cap": optional_money(rule.daily_cap),
        "instrument_id": rule.instrument_id,
        "alerted": rule.alerted,
        "declines": rule.declines,
        "retry_at": stamp(rule.retry_at),
        "suspended": rule.suspended,
    }


def statement_json(statement: Statement) -> dict[str, Any]:
    def m(amount: int) -> dict[str, str]:
        return mills(amount, statement.currency)

    return {
        "customer_number": statement.customer_number,
        "month": statement.month,
        "currency": statement.currency,
        "opening_balance": m(statement.opening),
        "draws": m(statement.draws),
        "payments": m(statement.payments),
        "closing_balance": m(statement.closing),
        "minimum_due": m(statement.minimum_due),
        "due_date": statement.due_date.isoformat(),
        "credit_limit": m(statement.credit_limit),
        "created_at": stamp(statement.created_at),
    }
