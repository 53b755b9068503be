"""A vault refill, applied by the meter: the data center's token is the device's token.

The vault issues a PRT1 token under the meter's key (``tokens.meter_key`` of the
installation secret and the serial); the virtual PSD, provisioned with that same key,
applies it over a real pty, and the vault then records it applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, PermissionDenied
from postroom.core.meters import tokens
from postroom.core.money import Money
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.simulator import MeterSimulator

SERIAL = "PB-E2E1"
OTHER = "PB-E2E2"


@pytest.fixture
def customer(postroom: Postroom) -> str:
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    postroom.ledger.deposit(account.number, Money.parse("200.00 USD"), "dep-1")
    postroom.meters.funds.register_meter(SERIAL, account.number, "USPS")
    postroom.meters.funds.register_meter(OTHER, account.number, "USPS")
    return account.number


@pytest.fixture
def secret(postroom: Postroom) -> str:
    return postroom.config.resolved_secret_key()


@pytest.fixture
def meter(tmp_path: Path, secret: str, clock: FrozenClock, customer: str) -> Iterator[MeterClient]:
    # the device is provisioned with its per-meter key at registration
    key = tokens.meter_key(secret, SERIAL)
    with (
        MeterSimulator(tmp_path / "psd", SERIAL, clock=clock, meter_key=key) as simulator,
        MeterClient.open(simulator.path, timeout=0.3) as client,
    ):
        yield client


def test_a_vault_refill_is_applied_by_the_meter(
    postroom: Postroom, meter: MeterClient, secret: str, clock: FrozenClock
) -> None:
    assert meter.identify()["serial"] == SERIAL
    assert meter.registers().descending == Money(0, "USD")

    refill = postroom.meters.funds.refill(SERIAL, Money.parse("50.00 USD"), "refill-e2e-1")
    assert isinstance(refill.token, str)
    raw = tokens.from_text(refill.token)
    assert raw.startswith(tokens.MAGIC)

    registers = meter.refill(raw, request_id="e2e-refill-1")
    assert registers.descending == Money.parse("50.00 USD")
    assert registers.control == Money.parse("50.00 USD")
    assert meter.registers().descending == Money.parse("50.00 USD")

    # at its sync the meter reports the token; the vault records it once
    applied = postroom.meters.funds.apply_reset_token(SERIAL, refill.token)
    assert applied == refill.reset
    assert applied.amount == Money.parse("50.00 USD")
    with pytest.raises(Conflict) as again:
        postroom.meters.funds.apply_reset_token(SERIAL, refill.token)
    assert again.value.code == "token_replayed"

    # the same token on the device again (a new request id, so no idempotent replay)
    with pytest.raises(Conflict) as replay:
        meter.refill(raw, request_id="e2e-refill-2")
    assert replay.value.code == "token_replayed"
    assert meter.registers().descending == Money.parse("50.00 USD")

    # another meter's vault refill is under another key: not authentic here
    foreign = postroom.meters.funds.refill(OTHER, Money.parse("10.00 USD"), "refill-e2e-other")
    with pytest.raises(PermissionDenied) as forged:
        meter.refill(tokens.from_text(foreign.token), request_id="e2e-refill-3")
    assert forged.value.code == "token_forged"

    # a token naming another serial under this meter's key (a leaked key) is refused too
    key = tokens.meter_key(secret, SERIAL)
    elsewhere = tokens.issue(key, OTHER, 5, Money.parse("10.00 USD"), clock.now() + timedelta(1))
    with pytest.raises(PermissionDenied) as wrong:
        meter.refill(elsewhere, request_id="e2e-refill-4")
    assert wrong.value.code == "token_wrong_meter"
    assert meter.registers().descending == Money.parse("50.00 USD")

    # the next vault refill goes on from the device's last sequence
    second = postroom.meters.funds.refill(SERIAL, Money.parse("5.00 USD"), "refill-e2e-2")
    assert second.reset.sequence == 2
    registers = meter.refill(tokens.from_text(second.token), request_id="e2e-refill-5")
    assert registers.descending == Money.parse("55.00 USD")
    assert postroom.meters.funds.apply_reset_token(SERIAL, second.token).sequence == 2
