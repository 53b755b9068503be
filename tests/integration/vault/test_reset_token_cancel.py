"""Reset tokens recorded however late on the device's signed proof, and refills whose
token expired unapplied cancelled back to the postage account (docs/vault.md)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import PostroomError
from postroom.core.hookspecs import hookimpl
from postroom.core.ledger.model import TransferCode
from postroom.core.meters import tokens
from postroom.core.meters.sync import canonical
from postroom.core.money import Money
from postroom.core.ports import Notification

SERIAL = "PR-TOK-1"
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


class Device:
    """The part of a postal security device this needs: its key, and its signed reply."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def refill_reply(self, reset: tokens.ResetToken, at: str, **applied: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": True,
            "applied": {
                "serial": reset.serial,
                "sequence": reset.sequence,
                "mills": reset.amount.mills,
                **applied,
            },
            "registers": {},
            "at": at,
        }
        body["sig"] = self.key.sign(canonical(body), ec.ECDSA(hashes.SHA256())).hex()
        return body


@pytest.fixture
def device(pr: Postroom, customer: CustomerAccount) -> Device:
    pr.ledger.deposit(customer.number, Money.parse("500.00 USD"), "dep-1")
    pr.meters.register(customer.number, product_code="PR-VPSD1", serial=SERIAL)
    device = Device()
    pr.meters.pin_public_key(SERIAL, device.pem)
    return device


class Inbox:
    name = "inbox"
    channels = ("email",)

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


def add_inbox(pr: Postroom) -> Inbox:
    inbox = Inbox()

    class InboxPlugin:
        @hookimpl
        def register_notifiers(self) -> list[Inbox]:
            return [inbox]

    pr.plugins.register(InboxPlugin(), name="test-inbox")
    return inbox


def code_of(call: Any) -> str:
    with pytest.raises(PostroomError) as refused:
        call()
    return refused.value.code


def postage(pr: Postroom, customer: CustomerAccount) -> int:
    return pr.ledger.balance(customer.number).balances.balance


# --------------------------------------------------------- late, proven applies


def test_a_token_applied_in_time_is_recorded_on_its_proof_however_late(
    pr: Postroom, customer: CustomerAccount, device: Device, clock: FrozenClock
) -> None:
    refill = pr.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    applied_at = (clock.now() + 6 * DAY).isoformat()  # by the device's clock, in time
    clock.advance(30 * DAY)  # its sync reaches the data center a month later
    assert (
        code_of(lambda: pr.meters.funds.apply_reset_token(SERIAL, refill.token)) == "token_expired"
    )

    proof = device.refill_reply(refill.reset, applied_at)
    reset = pr.meters.funds.apply_reset_token(SERIAL, refill.token, proof=proof)
    assert reset.sequence == refill.reset.sequence
    [issued] = pr.meters.funds.issued_tokens(SERIAL)
    assert (issued.applied, issued.cancelled) == (True, False)
    assert issued.device_applied_at is not None
    assert issued.device_applied_at.isoformat() == applied_at
    # recorded once: the same proof again is a replay; the funds stay on the meter
    again = lambda: pr.meters.funds.apply_reset_token(SERIAL, refill.token, proof=proof)  # noqa: E731
    assert code_of(again) == "token_replayed"
    assert pr.meters.funds.registers(SERIAL).control_sum == 60_000
    assert pr.jobs.run_now("vault.cancel-expired-tokens") == 0
    assert pr.meters.funds.registers(SERIAL).descending == 60_000
    assert pr.ledger.verify().ok


def test_a_proof_is_refused_unless_the_pinned_device_signed_it_for_this_token(
    pr: Postroom, customer: CustomerAccount, device: Device, clock: FrozenClock
) -> None:
    refill = pr.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    other = pr.meters.funds.refill(SERIAL, Money.parse("5.00 USD"), "r2")
    at = clock.now().isoformat()
    clock.advance(WEEK + DAY)

    def apply(token: str, proof: dict[str, Any]) -> str:
        return code_of(lambda: pr.meters.funds.apply_reset_token(SERIAL, token, proof=proof))

    # another device's key, a tampered reply, a reply for another token or amount
    assert apply(refill.token, Device().refill_reply(refill.reset, at)) == "signature_invalid"
    tampered = {**device.refill_reply(refill.reset, at), "at": "2020-01-01T00:00:00+00:00"}
    assert apply(refill.token, tampered) == "signature_invalid"
    assert apply(refill.token, device.refill_reply(other.reset, at)) == "token_proof_mismatch"
    wrong_amount = device.refill_reply(refill.reset, at, mills=70_000)
    assert apply(refill.token, wrong_amount) == "token_proof_mismatch"
    # a token this vault never issued, and another meter's, whatever the proof
    forged = tokens.issue(
        tokens.meter_key("another installation", SERIAL),
        SERIAL,
        refill.reset.sequence,
        refill.reset.amount,
        refill.reset.expires_at,
    )
    proof = device.refill_reply(refill.reset, at)
    assert apply(tokens.to_text(forged), proof) == "token_forged"
    pr.meters.register(customer.number, product_code="PR-VPSD1", serial="PR-TOK-2")
    foreign = pr.meters.funds.refill("PR-TOK-2", Money.parse("7.00 USD"), "rf")
    # (its MAC is under the other meter's key: forged, as far as this meter goes)
    assert apply(foreign.token, device.refill_reply(foreign.reset, at)) == "token_forged"
    # nothing of that was written
    assert [t.applied for t in pr.meters.funds.issued_tokens(SERIAL)] == [False, False]
    assert pr.meters.funds.apply_reset_token(SERIAL, refill.token, proof=proof).sequence == 1


def test_a_meter_without_a_pinned_key_proves_nothing(
    pr: Postroom, customer: CustomerAccount, clock: FrozenClock
) -> None:
    pr.ledger.deposit(customer.number, Money.parse("50.00 USD"), "dep-1")
    pr.meters.funds.register_meter(SERIAL, customer.number, "USPS")  # the vault's alone
    refill = pr.meters.funds.refill(SERIAL, Money.parse("10.00 USD"), "r1")
    proof = Device().refill_reply(refill.reset, clock.now().isoformat())
    clock.advance(WEEK)
    assert (
        code_of(lambda: pr.meters.funds.apply_reset_token(SERIAL, refill.token, proof=proof))
        == "no_public_key"
    )


# ------------------------------------------------------------------ cancellation


def test_an_expired_unapplied_refill_goes_back_to_the_postage_account_once(
    pr: Postroom, customer: CustomerAccount, device: Device, clock: FrozenClock
) -> None:
    kept = pr.meters.funds.refill(SERIAL, Money.parse("40.00 USD"), "r1")
    pr.meters.funds.apply_reset_token(SERIAL, kept.token)
    pr.meters.funds.record_usage(SERIAL, Money.parse("1.50 USD"), 3, "use-1")
    lapsed = pr.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r2")
    assert postage(pr, customer) == 400_000
    assert code_of(lambda: pr.meters.funds.cancel_reset_token(SERIAL, 2)) == "token_not_expired"
    assert code_of(lambda: pr.meters.funds.cancel_reset_token(SERIAL, 1)) == "token_applied"
    assert code_of(lambda: pr.meters.funds.cancel_reset_token(SERIAL, 9)) == "token_not_found"

    clock.advance(WEEK)
    done = pr.meters.funds.cancel_reset_token(SERIAL, lapsed.reset.sequence)
    assert (done.sequence, done.refill_id, done.amount) == (2, "r2", Money(60_000, "USD"))
    assert done.customer_number == customer.number
    back = done.transfer
    assert (back.id, back.code, back.reference) == (
        "prc:PR-TOK-1:2",
        TransferCode.REFILL_CANCEL,
        "r2",
    )
    assert back.credit_account_id == pr.ledger.balance(customer.number).id
    assert postage(pr, customer) == 460_000
    registers = pr.meters.funds.registers(SERIAL)
    # used + available = control sum, and the control sum counts only the live refill
    assert (registers.descending, registers.ascending, registers.control_sum) == (
        38_500,
        1_500,
        40_000,
    )
    assert pr.meters.funds.cancel_reset_token(SERIAL, 2) == done  # idempotent: nothing moves twice
    assert postage(pr, customer) == 460_000
    assert [(t.applied, t.cancelled) for t in pr.meters.funds.issued_tokens(SERIAL)] == [
        (True, False),
        (False, True),
    ]
    # it can never be recorded applied afterwards, plainly or proven
    assert (
        code_of(lambda: pr.meters.funds.apply_reset_token(SERIAL, lapsed.token))
        == "token_cancelled"
    )
    proof = device.refill_reply(lapsed.reset, clock.now().isoformat())
    late = lambda: pr.meters.funds.apply_reset_token(SERIAL, lapsed.token, proof=proof)  # noqa: E731
    assert code_of(late) == "token_cancelled"
    assert pr.meters.funds.registers(SERIAL).control_sum == 40_000
    assert pr.ledger.verify().ok
    types = [i.transfer.code for i in pr.ledger.customer_transfers(customer.number)]
    assert types[0] is TransferCode.REFILL_CANCEL


def test_nothing_to_return_for_a_sync_token_a_withdrawn_meter_or_an_uncovered_refill(
    pr: Postroom,
    customer: CustomerAccount,
    device: Device,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pr.meters.funds.issue_sync_token(SERIAL, "s1")
    pr.meters.funds.refill(SERIAL, Money.parse("10.00 USD"), "r1")
    clock.advance(WEEK)
    assert code_of(lambda: pr.meters.funds.cancel_reset_token(SERIAL, 1)) == "sync_token"
    # the ledger says the meter printed more than its applied refills: a difference a
    # person settles; the refill cannot be returned, and its id does not stay failed
    pr.meters.funds.record_usage(SERIAL, Money.parse("4.00 USD"), 1, "use-1")
    assert code_of(lambda: pr.meters.funds.cancel_reset_token(SERIAL, 2)) == "refill_not_covered"
    clock.advance(DAY)
    with caplog.at_level(logging.WARNING):
        assert pr.meters.funds.cancel_expired_tokens() == []  # uncovered: logged, tried next run
    assert f"not cancelling token 2 of meter {SERIAL}" in caplog.text
    pr.meters.funds.withdraw_meter(SERIAL, "mw:1")  # the withdrawal returns what the meter holds
    assert code_of(lambda: pr.meters.funds.cancel_reset_token(SERIAL, 2)) == "meter_withdrawn"
    clock.advance(DAY)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert (
            pr.meters.funds.cancel_expired_tokens() == []
        )  # the worker leaves a withdrawn meter be
    assert "not cancelling" not in caplog.text
    assert postage(pr, customer) == 496_000
    assert pr.ledger.verify().ok


def test_the_worker_cancels_a_day_past_expiry_and_tells_the_customer_once(
    pr: Postroom, customer: CustomerAccount, device: Device, clock: FrozenClock
) -> None:
    pr.plugins.unregister(name="log_notifier")  # no notifier at all, for now
    pr.plugins.unregister(name="smtp_notifier")
    pr.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    pr.meters.funds.issue_sync_token(SERIAL, "s1")  # expires unapplied too: nothing to return
    clock.advance(WEEK)
    assert pr.jobs.run_now("vault.cancel-expired-tokens") == 0  # the device has a day more
    clock.advance(DAY)
    assert pr.jobs.run_now("vault.cancel-expired-tokens") == 1  # no notifier took the message
    assert postage(pr, customer) == 500_000
    inbox = add_inbox(pr)
    assert pr.jobs.run_now("vault.cancel-expired-tokens") == 0  # nothing more to cancel,
    assert inbox.sent == []  # and the message is queued once, not again
    clock.advance(timedelta(minutes=1))
    assert pr.jobs.run_now("outbox.deliver") == 1  # the outbox retries it
    [told] = inbox.sent
    assert (told.kind, told.recipient) == ("meter.refill_returned", f"customer:{customer.number}")
    assert told.data["transfer_id"] == "prc:PR-TOK-1:1"
    assert told.subject == "Meter PR-TOK-1: refill of 60.00 USD returned"
    assert pr.jobs.run_now("vault.cancel-expired-tokens") == 0
    assert pr.jobs.run_now("outbox.deliver") == 0
    assert len(inbox.sent) == 1
    assert [t.cancelled for t in pr.meters.funds.issued_tokens(SERIAL)] == [True, False]
    assert pr.ledger.verify().ok


@pytest.mark.parametrize("round_", range(6))
def test_a_cancellation_racing_a_late_proof_leaves_the_funds_in_one_place(
    pr: Postroom, customer: CustomerAccount, device: Device, clock: FrozenClock, round_: int
) -> None:
    refill = pr.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    proof = device.refill_reply(refill.reset, clock.now().isoformat())
    clock.advance(WEEK + DAY)
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def run(name: str, call: Any) -> None:
        start.wait()
        try:
            results[name] = call()
        except PostroomError as error:
            results[name] = error.code

    racers = [
        threading.Thread(
            target=run, args=("cancel", lambda: pr.meters.funds.cancel_reset_token(SERIAL, 1))
        ),
        threading.Thread(
            target=run,
            args=(
                "apply",
                lambda: pr.meters.funds.apply_reset_token(SERIAL, refill.token, proof=proof),
            ),
        ),
    ]
    for racer in reversed(racers) if round_ % 2 else racers:
        racer.start()
    for racer in racers:
        racer.join()

    [issued] = pr.meters.funds.issued_tokens(SERIAL)
    registers = pr.meters.funds.registers(SERIAL)
    if results["cancel"] == "token_applied":  # the proof came first: the device has it
        assert (issued.applied, issued.cancelled) == (True, False)
        assert (registers.control_sum, postage(pr, customer)) == (60_000, 440_000)
    else:  # the cancellation came first: the proof is refused, the data center alerts
        assert results["apply"] == "token_cancelled"
        assert (issued.applied, issued.cancelled) == (False, True)
        assert (registers.control_sum, postage(pr, customer)) == (0, 500_000)
    assert registers.ascending + registers.descending == registers.control_sum
    assert pr.ledger.verify().ok
