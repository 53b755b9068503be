"""Customer accounts, API keys, kiosk operators and closures as ``--json`` writes them."""

from __future__ import annotations

from typing import Any

from postroom.core.accounts.closure import AccountClosure
from postroom.core.accounts.model import ApiKey, CustomerAccount, KioskOperator
from postroom.frontends.serialise import mills, utc


def account_json(account: CustomerAccount) -> dict[str, Any]:
    return {
        "number": account.number,
        "name": account.name,
        "country": account.country,
        "currency": account.currency,
        "status": account.status.value,
        "created_at": utc(account.created_at),
    }


def api_key_json(key: ApiKey) -> dict[str, Any]:
    """A key as it may be shown: its prefix, never its secret."""
    return {
        "prefix": key.prefix,
        "label": key.label,
        "created_at": utc(key.created_at),
        "revoked_at": utc(key.revoked_at),
    }


def kiosk_operator_json(operator: KioskOperator) -> dict[str, Any]:
    return {
        "id": operator.id,
        "name": operator.name,
        "created_at": operator.created_at.isoformat(),
        "cost_centers": list(operator.cost_centers),
        "badge": operator.has_badge,
    }


def closure_json(closure: AccountClosure) -> dict[str, Any]:
    return {
        "customer_number": closure.customer_number,
        "account": closure.account,
        "currency": closure.currency,
        "transfer_id": closure.transfer_id,
        "closed_at": utc(closure.closed_at),
        "refunded": mills(closure.refunded, closure.currency),
    }
