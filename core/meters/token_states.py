"""A meter's reset tokens as an operator sees them: applied, cancelled, expired or live.

The states follow the vault's own rules: a token expires at its ``expires_at`` (from then
on ``cancel_token`` accepts it and a device refuses it), a cancelled token's refill went
back to the postage account, and an applied one is final. Callers ask ``MeterTokens``
(``pr.meter_tokens``) rather than re-deriving a state from the fields.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from postroom.core.clock import Clock
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.refills import IssuedToken


class TokenState(enum.StrEnum):
    APPLIED = "applied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # unapplied past its expiry: its refill is cancellable
    LIVE = "live"  # the device may still apply it


def token_state(token: IssuedToken, now: datetime) -> TokenState:
    if token.applied:
        return TokenState.APPLIED
    if token.cancelled:
        return TokenState.CANCELLED
    return TokenState.EXPIRED if now >= token.reset.expires_at else TokenState.LIVE


@attrs.frozen
class TokenStatus:
    """One issued token and its state at the moment it was read."""

    token: IssuedToken
    state: TokenState


class MeterTokens:
    """The use case behind ``postroom meter tokens``: a meter's tokens with their states."""

    def __init__(self, funds: MeterFunds, clock: Clock) -> None:
        self._funds = funds
        self._clock = clock

    def list(self, serial: str) -> list[TokenStatus]:
        """Every token issued for meter ``serial``, by sequence (``meter_not_found``)."""
        found = self._funds.issued_tokens(serial)
        now = self._clock.now()
        return [TokenStatus(token, token_state(token, now)) for token in found]
