"""Reset tokens and time, over the pty simulator and the in-process data center: a token
applied in time is recorded however late its sync arrives, and a refill whose token
expired unapplied goes back to the postage account (docs/meters.md).

Every test runs on SQLite, and on PostgreSQL with POSTROOM_TEST_DATABASE_URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from postroom.core.app import Postroom
from postroom.core.clock import Clock, FrozenClock
from postroom.core.hookspecs import hookimpl
from postroom.core.meters import tokens
from postroom.core.money import Money
from postroom.core.ports import Notification
from postroom.hal.meter.connect import ConnectOutcome, run_sync
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.simulator import MeterSimulator

SERIAL = "PR-EXP-1"
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


class Cut(Exception):
    """The connection to the data center dies before the sync's finish."""


class Inbox:
    name = "inbox"
    channels = ("email",)

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


@pytest.fixture
def inbox(postroom: Postroom) -> Inbox:
    inbox = Inbox()

    class InboxPlugin:
        @hookimpl
        def register_notifiers(self) -> list[Inbox]:
            return [inbox]

    postroom.plugins.register(InboxPlugin(), name="test-inbox")
    return inbox


@pytest.fixture
def customer(postroom: Postroom) -> str:
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    postroom.ledger.deposit(account.number, Money.parse("500.00 USD"), "dep-1")
    postroom.meters.register(account.number, product_code="PR-VPSD1", serial=SERIAL)
    return account.number


def simulator(tmp_path: Path, postroom: Postroom, clock: Clock) -> MeterSimulator:
    key = tokens.meter_key(postroom.config.resolved_secret_key(), SERIAL)
    return MeterSimulator(tmp_path / SERIAL, SERIAL, clock=clock, meter_key=key)


@pytest.fixture
def device(
    tmp_path: Path, postroom: Postroom, clock: FrozenClock, customer: str
) -> Iterator[MeterSimulator]:
    with simulator(tmp_path, postroom, clock) as sim:
        yield sim


def connect(sim: MeterSimulator, postroom: Postroom, *, cut: bool = False) -> ConnectOutcome:
    def progress(step: str) -> None:
        if cut and step == "finish":
            raise Cut(step)

    with MeterClient.open(sim.path, timeout=0.3) as meter:
        return run_sync(meter, postroom.meters.datacenter(SERIAL), progress=progress)


def postage(postroom: Postroom, customer: str) -> int:
    return postroom.ledger.balance(customer).balances.balance


def alert_kinds(postroom: Postroom) -> list[str]:
    return [a.kind for a in postroom.meters.alerts(SERIAL)]


def test_a_token_applied_in_time_is_recorded_when_its_sync_arrives_after_the_expiry(
    postroom: Postroom, device: MeterSimulator, clock: FrozenClock, customer: str
) -> None:
    refill = postroom.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    clock.advance(6 * DAY)
    applied_at = clock.now()
    with pytest.raises(Cut):  # the device applied it; the data center did not hear
        connect(device, postroom, cut=True)
    clock.advance(20 * DAY)  # the next sync, long after the token's expiry

    summary = connect(device, postroom).summary
    assert summary.tokens_applied[0] == refill.reset.sequence
    assert summary.reconciled is True
    assert summary.alerts == ()
    first = postroom.meters.funds.issued_tokens(SERIAL)[0]
    assert (first.applied, first.cancelled) == (True, False)
    assert first.device_applied_at == applied_at  # the device's clock, from its signed reply
    assert device.psd.state["descending"] == 60_000
    assert postroom.meters.funds.registers(SERIAL).descending == 60_000
    assert postage(postroom, customer) == 440_000
    assert postroom.jobs.run_now("vault.cancel-expired-tokens") == 0
    assert postroom.ledger.verify().ok


def test_a_refill_that_expired_before_the_meter_connected_is_returned_at_its_sync(
    postroom: Postroom, device: MeterSimulator, clock: FrozenClock, customer: str, inbox: Inbox
) -> None:
    connect(device, postroom)  # the rate package, and a first inspection
    postroom.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    clock.advance(WEEK + timedelta(hours=2))  # expired, and the worker has not run yet

    summary = connect(device, postroom).summary
    assert summary.reconciled is True
    assert summary.alerts == ()
    refill = postroom.meters.funds.issued_tokens(SERIAL)[1]
    assert (refill.applied, refill.cancelled) == (False, True)
    assert postage(postroom, customer) == 500_000
    registers = postroom.meters.funds.registers(SERIAL)
    assert (registers.descending, registers.ascending, registers.control_sum) == (0, 0, 0)
    assert device.psd.state["control"] == 0
    [told] = [n for n in inbox.sent if n.kind == "meter.refill_returned"]
    assert told.recipient == f"customer:{customer}"
    assert told.data["refill_id"] == "r1"
    # nothing more for the worker, and no second message
    assert postroom.jobs.run_now("vault.cancel-expired-tokens") == 0
    assert len([n for n in inbox.sent if n.kind == "meter.refill_returned"]) == 1
    assert postroom.ledger.verify().ok


def test_a_device_whose_clock_runs_ahead_refuses_a_token_the_data_center_keeps_until_it_expires(
    postroom: Postroom, tmp_path: Path, clock: FrozenClock, customer: str
) -> None:
    ahead = FrozenClock(clock.now() + DAY)
    with simulator(tmp_path, postroom, ahead) as device:
        connect(device, postroom)
        postroom.meters.funds.refill(SERIAL, Money.parse("25.00 USD"), "r1")
        clock.advance(WEEK - timedelta(hours=6))
        ahead.advance(WEEK - timedelta(hours=6))
        summary = connect(device, postroom).summary
        assert "token_refused" in summary.alerts  # token_expired, by the device's clock
        assert postroom.meters.funds.issued_tokens(SERIAL)[1].cancelled is False  # not by ours
        assert postage(postroom, customer) == 475_000

        clock.advance(DAY)
        ahead.advance(DAY)
        again = connect(device, postroom).summary
        assert again.reconciled is True
        assert postroom.meters.funds.issued_tokens(SERIAL)[1].cancelled is True
        assert postage(postroom, customer) == 500_000


def test_an_expired_token_the_device_applied_out_of_sight_is_never_returned_at_a_sync(
    postroom: Postroom, device: MeterSimulator, clock: FrozenClock, customer: str
) -> None:
    refill = postroom.meters.funds.refill(SERIAL, Money.parse("12.00 USD"), "r1")
    with MeterClient.open(device.path, timeout=0.3) as meter:
        # applied under another request id: the device keeps no reply under prt-1
        meter.refill(tokens.from_text(refill.token), request_id="elsewhere")
    clock.advance(WEEK + DAY)

    summary = connect(device, postroom).summary
    # the device answers token_expired, yet its signed control sum shows the refill:
    # the data center does not return it, and says so
    assert summary.reconciled is False
    assert {"token_refused", "registers_mismatch"} <= set(summary.alerts)
    assert postroom.meters.funds.issued_tokens(SERIAL)[0].cancelled is False
    assert postage(postroom, customer) == 488_000
    assert device.psd.state["descending"] == 12_000


def test_a_late_proof_after_the_worker_returned_the_refill_alerts_and_funds_nothing_twice(
    postroom: Postroom, device: MeterSimulator, clock: FrozenClock, customer: str
) -> None:
    refill = postroom.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    clock.advance(6 * DAY)
    with pytest.raises(Cut):  # applied in time; the PC died before it told the data center
        connect(device, postroom, cut=True)
    clock.advance(2 * DAY)
    assert postroom.jobs.run_now("vault.cancel-expired-tokens") == 1  # a day past expiry
    assert postage(postroom, customer) == 500_000

    summary = connect(device, postroom).summary
    assert refill.reset.sequence not in summary.tokens_applied
    assert "token_applied_after_cancel" in summary.alerts
    assert "registers_mismatch" in summary.alerts
    assert summary.reconciled is False
    [alert] = [a for a in postroom.meters.alerts(SERIAL) if a.kind == "token_applied_after_cancel"]
    assert alert.details["cancel_transfer_id"] == f"prc:{SERIAL}:1"
    # the ledger keeps the cancellation: the difference is a person's to settle
    assert postage(postroom, customer) == 500_000
    assert postroom.meters.funds.registers(SERIAL).control_sum == 0
    assert device.psd.state["control"] == 60_000
    first = postroom.meters.funds.issued_tokens(SERIAL)[0]
    assert (first.applied, first.cancelled) == (False, True)
    again = connect(device, postroom).summary  # run again: the same alert is not reopened
    assert "token_applied_after_cancel" not in again.alerts
    assert alert_kinds(postroom).count("token_applied_after_cancel") == 1
    assert postroom.ledger.verify().ok
