"""Refills of a meter and the reset tokens that carry them: values and pure rules, no I/O.

A refill moves money from the customer's postage account into the meter's account in the
ledger; the data center issues a reset token (``tokens``) that the meter applies at its
next sync. A token left unapplied past its expiry is cancelled and its refill returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from postroom.core.errors import PermissionDenied
from postroom.core.ledger.model import Transfer
from postroom.core.meters.tokens import ResetToken
from postroom.core.money import Money

#: How long a refill's reset token may wait for the meter to apply it.
RESET_TOKEN_TTL_SECONDS = 7 * 24 * 3600
#: How long past its expiry the worker waits before it cancels a refill's token that no
#: sync proved applied: a device whose clock lags, or whose sync was cut after it applied
#: the token, has that long to report it. A sync whose signed control sum shows the token
#: unapplied cancels it as soon as it has expired.
TOKEN_CANCEL_GRACE_SECONDS = 24 * 3600


def refill_cancel_id(serial: str, sequence: int) -> str:
    """The id of the transfer that cancels the refill of token ``sequence``: one per token,
    so a cancellation run again (the worker, a sync) moves nothing twice."""
    return f"prc:{serial}:{sequence}"


def token_cancellable(token: IssuedToken, now: datetime) -> bool:
    """A refill's token may be cancelled once it expired unapplied (the worker waits
    ``TOKEN_CANCEL_GRACE_SECONDS`` more). A zero-amount sync token holds no money: it
    simply lapses."""
    return (
        token.reset.amount.mills > 0
        and not token.applied
        and not token.cancelled
        and now >= token.reset.expires_at
    )


def refill_proof(body: Mapping[str, Any], token: ResetToken) -> datetime | None:
    """Check that a device's signed ``refill`` reply (``body``, its signature already
    verified) proves it applied ``token``; the device's time of application when the
    reply carries it.

    The reply must be a success naming the token's sequence and amount (and serial,
    when the device names it): ``token_proof_mismatch`` otherwise.
    """
    applied = body.get("applied")
    if (
        body.get("ok") is not True
        or not isinstance(applied, Mapping)
        or applied.get("sequence") != token.sequence
        or applied.get("mills") != token.amount.mills
        or applied.get("serial", token.serial) != token.serial
    ):
        raise PermissionDenied(
            f"the device's reply does not prove it applied token {token.sequence}",
            code="token_proof_mismatch",
        )
    at = body.get("at")
    if not isinstance(at, str):
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return None if moment.tzinfo is None else moment.astimezone(UTC)


@attrs.frozen
class Refill:
    """A refill's ledger row and the reset token the meter applies at its next sync."""

    transfer: Transfer
    token: str  # tokens.to_text of the PRT1 bytes
    reset: ResetToken


@attrs.frozen
class IssuedToken:
    """A reset token the vault issued for a meter (a refill's, or a zero-amount sync
    token), in its text form, and whether the meter's sync recorded it applied."""

    reset: ResetToken
    token: str  # tokens.to_text of the PRT1 bytes
    applied: bool
    cancelled: bool = False  # expired unapplied: its refill went back to the postage account
    device_applied_at: datetime | None = None  # the device's clock, from its signed reply


@attrs.frozen
class CancelledToken:
    """A refill's reset token cancelled once it expired unapplied, and the transfer that
    returned its amount from the meter to the customer's postage account."""

    serial: str
    sequence: int
    refill_id: str  # the refill's transfer id
    amount: Money
    transfer: Transfer
    customer_number: str

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "sequence": self.sequence,
            "refill_id": self.refill_id,
            "amount_mills": self.amount.mills,
            "currency": self.amount.currency,
            "transfer_id": self.transfer.id,
            "customer": self.customer_number,
        }
