"""A manual deposit is a staff action with a reason, audited (issue 11, item 1): funds
received outside any payment source are credited only with who, when, why and how much
recorded in the same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.ledger.model import AccountKind
from postroom.core.money import Money
from postroom.frontends.cli import cli

REASON = "cheque 10442 received 2026-03-01"


@pytest.fixture
def number(postroom: Postroom) -> str:
    return postroom.accounts.create("Acme Mailroom", "US", "USD").number


def test_a_manual_deposit_credits_and_records_who_when_why_and_how_much(postroom, number, clock):
    done = postroom.funding.manual_deposit(
        number, Money.parse("250 USD"), "md-1", staff="alice", reason=REASON, reference="CHQ10442"
    )
    assert (done.staff, done.reason, done.amount) == ("alice", REASON, Money.parse("250 USD"))
    assert done.created_at == clock.now()
    assert postroom.ledger.balance(number).balances.balance == 250_000
    item = postroom.ledger.customer_transfer(number, "md-1")
    assert (item.transfer.amount, item.transfer.reference) == (250_000, "CHQ10442")
    assert postroom.funding.manual_deposits(number) == [done]
    assert postroom.funding.manual_deposits() == [done]
    assert postroom.ledger.verify().ok


def test_a_replay_answers_the_first_deposit_and_another_body_conflicts(postroom, number, clock):
    first = postroom.funding.manual_deposit(
        number, Money.parse("10 USD"), "md-1", staff="alice", reason=REASON
    )
    clock.advance(timedelta(minutes=5))
    again = postroom.funding.manual_deposit(
        number, Money.parse("10 USD"), "md-1", staff="alice", reason=REASON
    )
    assert again == first
    for changes in ({"amount": Money.parse("11 USD")}, {"staff": "mallory"}):
        kwargs = {"amount": Money.parse("10 USD"), "staff": "alice", **changes}
        with pytest.raises(Conflict) as caught:
            postroom.funding.manual_deposit(number, transfer_id="md-1", reason=REASON, **kwargs)
        assert caught.value.code == "transfer_id_reused"
    assert postroom.ledger.balance(number).balances.balance == 10_000
    assert len(postroom.funding.manual_deposits(number)) == 1


@pytest.mark.parametrize(
    ("staff", "reason", "code"),
    [
        ("", REASON, "invalid_staff"),
        ("   ", REASON, "invalid_staff"),
        ("a" * 101, REASON, "invalid_staff"),
        ("alice", "", "invalid_reason"),
        ("alice", "because", "invalid_reason"),  # says nothing an auditor can check
        ("alice", "x" * 501, "invalid_reason"),
        ("alice", "cheque 1\x00 received", "invalid_reason"),
        ("ali\nce", REASON, "invalid_staff"),
    ],
)
def test_no_deposit_without_a_staff_name_and_a_reason(postroom, number, staff, reason, code):
    with pytest.raises(ValidationError) as caught:
        postroom.funding.manual_deposit(
            number, Money.parse("10 USD"), "md-1", staff=staff, reason=reason
        )
    assert caught.value.code == code
    assert postroom.funding.manual_deposits() == []
    with pytest.raises(NotFound):  # not even the postage account was opened
        postroom.ledger.balance(number)


def test_a_refused_transfer_leaves_no_audit_row(postroom, number):
    with pytest.raises(ValidationError) as caught:
        postroom.funding.manual_deposit(
            number, Money.parse("10 EUR"), "md-1", staff="alice", reason=REASON
        )
    assert caught.value.code == "currency_mismatch"
    assert postroom.funding.manual_deposits() == []


def _run(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.output


def test_the_cli_deposit_needs_a_reason_and_records_the_staff(runner, postroom, number):
    code, out = _run(runner, "vault", "deposit", "--account", number, "--amount", "50 USD")
    assert code == 2
    assert "--reason" in out
    code, out = _run(
        runner, "vault", "deposit", "--account", number, "--amount", "50 USD", "--id", "md-1",
        "--reason", REASON, "--staff", "alice", "--json",
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["staff"] == "alice"
    code, out = _run(
        runner,
        "vault",
        "deposit",
        "--account",
        number,
        "--amount",
        "5 USD",
        "--id",
        "md-2",
        "--reason",
        REASON,
    )
    assert code == 0, out
    code, out = _run(runner, "vault", "manual-deposits", "--account", number, "--json")
    assert code == 0, out
    listed = json.loads(out)
    assert [(d["transfer_id"], d["staff"]) for d in listed] == [
        ("md-2", getpass.getuser()),  # no --staff: the operating-system user
        ("md-1", "alice"),
    ]
    assert listed[1]["reason"] == REASON
    assert listed[1]["amount"] == {"amount": "50.00", "currency": "USD"}
    code, out = _run(runner, "vault", "manual-deposits")
    assert code == 0, out
    assert f"50.00 USD to {number}  by alice  (transfer md-1): {REASON}" in out
    assert postroom.ledger.balance(number).balances.balance == 55_000


def test_the_cli_refuses_a_bad_reason_with_its_code_and_credits_nothing(runner, postroom, number):
    code, out = _run(
        runner, "vault", "deposit", "--account", number, "--amount", "50 USD", "--reason", "ok"
    )
    assert code == 1
    assert "[invalid_reason]" in out
    assert postroom.funding.manual_deposits() == []


def test_a_raw_transfer_cannot_credit_a_customer_around_the_audit(runner, postroom, number):
    postroom.funding.manual_deposit(
        number, Money.parse("20 USD"), "md-1", staff="alice", reason=REASON
    )
    postroom.ledger.system_account(AccountKind.FEES, "USD")
    code, out = _run(
        runner, "vault", "transfer", "--from", "payment_clearing:USD",
        "--to", f"postage:{number}", "--amount", "1000 USD", "--code", "deposit",
    )  # fmt: skip
    assert code == 1
    assert "[manual_credit_needs_deposit]" in out
    assert postroom.ledger.balance(number).balances.balance == 20_000
    # A correction the other way, out of the customer's funds, stays the admin's tool.
    code, out = _run(
        runner, "vault", "transfer", "--from", f"postage:{number}", "--to", "fees:USD",
        "--amount", "5 USD", "--code", "fee",
    )  # fmt: skip
    assert code == 0, out
    assert postroom.ledger.balance(number).balances.balance == 15_000
