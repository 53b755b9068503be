"""The state ``meter tokens`` shows for each issued reset token: pure rules, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postroom.core.meters import tokens
from postroom.core.meters.refills import IssuedToken, token_cancellable
from postroom.core.meters.token_states import TokenState, TokenStatus, token_state
from postroom.core.money import Money
from postroom.frontends.serialise.meters import token_status_json

EXPIRES = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def issued(*, applied: bool = False, cancelled: bool = False) -> IssuedToken:
    raw = tokens.issue(b"k" * 32, "PR-1", 3, Money(25_000, "USD"), EXPIRES, nonce=b"n" * 16)
    return IssuedToken(tokens.decode(raw)[0], "text", applied, cancelled)


@pytest.mark.parametrize(
    ("token", "now", "state"),
    [
        (issued(), EXPIRES - timedelta(seconds=1), TokenState.LIVE),
        (issued(), EXPIRES, TokenState.EXPIRED),  # the instant the device starts refusing it
        (issued(applied=True), EXPIRES + timedelta(days=9), TokenState.APPLIED),
        (issued(cancelled=True), EXPIRES + timedelta(days=2), TokenState.CANCELLED),
    ],
)
def test_a_token_state_follows_the_vault_rules(
    token: IssuedToken, now: datetime, state: TokenState
) -> None:
    assert token_state(token, now) is state
    # "expired" is exactly when the vault lets its refill be cancelled
    assert (state is TokenState.EXPIRED) == token_cancellable(token, now)


def test_the_json_row_carries_the_token_and_its_state() -> None:
    row = token_status_json(TokenStatus(issued(), TokenState.LIVE))
    assert row["sequence"] == 3
    assert row["amount_mills"] == 25_000
    assert row["state"] == "live"
    assert row["device_applied_at"] is None
