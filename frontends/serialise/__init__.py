"""How the frontends write domain objects as JSON: the API's responses and the CLI's
``--json`` output are one shape, built here and nowhere in core.

One module per area (``ledger``, ``funding``, ``payouts``, ``refunds``, ``accounts``,
``rates``, ``meters``, ``notifications``). ``converter`` is a cattrs converter whose hooks
write the kernel's values the one way the API documents them: Money as
``{"amount": "12.34", "currency": "USD"}``, an enum as its value, a moment as ISO 8601 in
UTC with ``Z``; an object whose JSON is its fields unstructures through it, and the others
are written out by hand where the JSON renames, omits or derives fields.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from enum import Enum

import cattrs

from postroom.core.clock import iso_utc
from postroom.core.money import Money


def money(value: Money) -> dict[str, str]:
    return {"amount": value.amount, "currency": value.currency}


def mills(amount: int, currency: str) -> dict[str, str]:
    """``amount`` mills of ``currency`` as the API writes money."""
    return money(Money(amount, currency))


def optional_money(value: Money | None) -> dict[str, str] | None:
    return None if value is None else money(value)


def stamp(moment: datetime | None) -> str | None:
    """A moment as ISO 8601 in UTC with ``Z`` and microseconds only when it has some
    (payments, payouts and balances): ``2026-03-01T12:00:00Z``."""
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=256)
def _utc(moment: datetime) -> str:
    # cached: the rows of one batch or report share their creation time
    return iso_utc(moment)


def utc(moment: datetime | None) -> str | None:
    """A moment as ISO 8601 in UTC with microseconds and ``Z`` (the ledger, refunds and
    accounts): ``2026-03-01T12:00:00.000000Z``."""
    return None if moment is None else _utc(moment)


def _converter() -> cattrs.Converter:
    made = cattrs.Converter()
    made.register_unstructure_hook(Money, money)
    made.register_unstructure_hook(datetime, stamp)
    made.register_unstructure_hook(Enum, lambda member: member.value)
    return made


converter = _converter()
