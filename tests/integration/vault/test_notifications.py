"""Funding notifications go through the outbox, on SQLite and PostgreSQL: written with
the change that causes them, delivered at least once with a stable id, retried with
backoff, failed for an admin after the last attempt, and delivered after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict
from postroom.core.hookspecs import hookimpl
from postroom.core.money import Money
from postroom.core.outbox import MAX_ATTEMPTS, MessageStatus, retry_delay
from postroom.core.ports import Notification
from postroom.frontends.cli import cli

ACH = {
    "routing_number": "111000025",
    "account_number": "000123456789",
    "account_type": "checking",
    "account_holder": "Acme Inc.",
}


class Inbox:
    """The customer's mailbox behind a mail server that is down for ``failures`` sends:
    it keeps one copy per message id, as a notifier that dedupes does."""

    name = "mail"
    channels = ("email",)

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.received: dict[str, Notification] = {}

    def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("mail server down")
        assert notification.id is not None
        self.received.setdefault(notification.id, notification)

    def kinds(self) -> list[str]:
        return [n.kind for n in self.received.values()]


class InboxPlugin:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    @hookimpl
    def register_notifiers(self) -> list[Inbox]:
        return [self.inbox]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def pr(open_postroom: Any, inbox: Inbox) -> Iterator[Postroom]:
    with open_postroom(("inbox", InboxPlugin(inbox))) as postroom:
        yield postroom


def returned_debit(pr: Postroom) -> str:
    customer = pr.accounts.create("Acme", "US", "USD")
    bank = pr.funding.add_instrument(customer.number, "ach-debit", ACH)
    debit = pr.funding.deposit(customer.number, bank.id, Money.parse("20.00 USD"), "d1")
    pr.funding.record_return(debit.id, "R01")
    return customer.number


def test_a_notifier_failing_twice_then_taking_it_delivers_the_message_once(
    pr: Postroom, inbox: Inbox, clock: FrozenClock
) -> None:
    inbox.failures = 2
    number = returned_debit(pr)
    assert inbox.received == {}  # the inline try after the commit failed
    [message] = pr.outbox.messages()
    assert message.status is MessageStatus.PENDING
    assert message.attempts == 1
    assert message.last_error == "mail: ConnectionError: mail server down"
    assert message.next_attempt_at == clock.now() + retry_delay(1)
    assert message.notification.data["customer_number"] == number

    assert pr.jobs.run_now("outbox.deliver") == 0  # not due yet: nothing sent
    assert inbox.calls == 1
    clock.advance(retry_delay(1))
    assert pr.jobs.run_now("outbox.deliver") == 0  # second failure
    second = pr.outbox.message(message.id)
    assert second.attempts == 2
    assert second.next_attempt_at == clock.now() + 2 * retry_delay(1)  # backoff doubles
    clock.advance(retry_delay(2))
    assert pr.jobs.run_now("outbox.deliver") == 1
    assert pr.jobs.run_now("outbox.deliver") == 0
    clock.advance(timedelta(days=1))
    assert pr.jobs.run_now("outbox.deliver") == 0
    assert inbox.calls == 3
    assert inbox.kinds() == ["payment_returned"]
    assert list(inbox.received) == [message.id]
    done = pr.outbox.message(message.id)
    assert done.status is MessageStatus.DELIVERED
    # the built-in log and email notifiers too (this customer has no addressee to email)
    assert set(done.delivered_to) == {"email", "log", "mail"}


def test_a_notifier_that_took_the_message_is_not_sent_it_again_when_another_is_retried(
    pr: Postroom, inbox: Inbox, clock: FrozenClock
) -> None:
    flaky = Inbox(failures=1)
    flaky.name = "sms"
    pr.plugins.register(InboxPlugin(flaky), name="flaky")
    returned_debit(pr)
    assert inbox.calls == 1
    assert flaky.calls == 1
    clock.advance(retry_delay(1))
    assert pr.jobs.run_now("outbox.deliver") == 1
    assert inbox.calls == 1  # took it the first time: not sent again
    assert flaky.calls == 2
    assert flaky.kinds() == ["payment_returned"]


def test_a_rolled_back_change_leaves_no_notification(pr: Postroom, inbox: Inbox) -> None:
    class Refused(Exception):
        pass

    def work(uow: object) -> None:
        pr.outbox.add(
            uow.connection,  # type: ignore[attr-defined]
            Notification(recipient="customer:1", subject="s", body="b", kind="low_balance"),
        )
        raise Refused  # the change that caused the message fails before its commit

    with pytest.raises(Refused):
        pr.db.run(work)
    assert pr.outbox.messages() == []
    assert pr.jobs.run_now("outbox.deliver") == 0
    assert inbox.calls == 0


def test_after_the_last_attempt_the_message_is_failed_and_shown_to_an_admin(
    pr: Postroom, inbox: Inbox, clock: FrozenClock, store_url: str, data_dir: Path
) -> None:
    inbox.failures = MAX_ATTEMPTS
    returned_debit(pr)
    [message] = pr.outbox.messages()
    for attempt in range(1, MAX_ATTEMPTS):
        clock.advance(retry_delay(attempt))
        assert pr.jobs.run_now("outbox.deliver") == 0
    failed = pr.outbox.message(message.id)
    assert failed.status is MessageStatus.FAILED
    assert failed.attempts == MAX_ATTEMPTS
    clock.advance(timedelta(days=7))
    assert pr.jobs.run_now("outbox.deliver") == 0
    assert inbox.calls == MAX_ATTEMPTS
    assert pr.outbox.counts() == {"pending": 0, "delivered": 0, "failed": 1}

    runner = CliRunner()
    env = {"POSTROOM_DATABASE_URL": store_url, "POSTROOM_DATA_DIR": str(data_dir)}
    shown = runner.invoke(cli, ["notifications", "list", "--failed", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    [row] = json.loads(shown.output)
    assert row["id"] == message.id
    assert row["status"] == "failed"
    assert row["attempts"] == MAX_ATTEMPTS
    assert row["last_error"] == "mail: ConnectionError: mail server down"

    # the mail server is back: the admin sends it again
    again = pr.outbox.retry(message.id)
    assert again.status is MessageStatus.DELIVERED
    nothing = runner.invoke(cli, ["notifications", "list", "--failed"], env=env)
    assert nothing.output == "none\n"
    assert inbox.kinds() == ["payment_returned"]
    with pytest.raises(Conflict) as not_failed:
        pr.outbox.retry(message.id)
    assert not_failed.value.code == "message_not_failed"


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from postroom.core.app import Postroom
    from postroom.core.clock import FrozenClock
    from postroom.core.config import Config
    from postroom.core.hookspecs import hookimpl
    from postroom.core.money import Money

    class Dies:
        name = "dies"
        channels = ("email",)

        def send(self, notification):
            os._exit(9)  # the process dies after the commit, during delivery

    class Plugin:
        @hookimpl
        def register_notifiers(self):
            return [Dies()]

    url, data_dir, now = sys.argv[1:4]
    config = Config.load({}, data_dir=data_dir, database_url=url, secret_key="s")
    pr = Postroom.open(
        config=config, clock=FrozenClock.at(now), immediate_jobs=True,
        migrate_schema=True, extra_plugins=[("dies", Plugin())],
    )
    customer = pr.accounts.create("Acme", "US", "USD")
    bank = pr.funding.add_instrument(customer.number, "ach-debit", {
        "routing_number": "111000025", "account_number": "000123456789",
        "account_type": "checking", "account_holder": "Acme Inc.",
    })
    debit = pr.funding.deposit(customer.number, bank.id, Money.parse("20.00 USD"), "d1")
    pr.funding.record_return(debit.id, "R01")
    sys.exit(0)  # not reached
    """
)


def test_a_crash_between_the_commit_and_the_delivery_still_delivers_at_the_next_run(
    pr: Postroom, inbox: Inbox, clock: FrozenClock, store_url: str, data_dir: Path
) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, store_url, str(data_dir), clock.now().isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == 9, crashed.stderr
    [message] = pr.outbox.messages()
    assert message.status is MessageStatus.PENDING
    assert message.notification.kind == "payment_returned"
    assert pr.jobs.run_now("outbox.deliver") == 0  # still claimed by the dead process
    clock.advance(timedelta(minutes=5))
    assert pr.jobs.run_now("outbox.deliver") == 1
    assert inbox.kinds() == ["payment_returned"]
    assert list(inbox.received) == [message.id]


def test_delivered_messages_are_purged_after_90_days_and_failed_ones_stay(
    pr: Postroom, inbox: Inbox, clock: FrozenClock
) -> None:
    returned_debit(pr)
    [delivered] = pr.outbox.messages(status="delivered")
    clock.advance(timedelta(days=89))
    assert pr.jobs.run_now("outbox.deliver") == 0
    assert [m.id for m in pr.outbox.messages()] == [delivered.id]
    inbox.failures = MAX_ATTEMPTS
    returned_debit(pr)  # a second customer's message, never taken
    for attempt in range(1, MAX_ATTEMPTS):
        clock.advance(retry_delay(attempt))
        pr.jobs.run_now("outbox.deliver")
    assert pr.outbox.counts() == {"pending": 0, "delivered": 1, "failed": 1}  # day 89.6
    clock.advance(timedelta(days=365))
    pr.jobs.run_now("outbox.deliver")
    assert pr.outbox.counts() == {"pending": 0, "delivered": 0, "failed": 1}


def test_a_message_added_claimed_is_delivered_by_its_writer_else_by_the_worker_after_the_lease(
    pr: Postroom, inbox: Inbox, clock: FrozenClock
) -> None:
    def write(uow: Any) -> str:
        added = pr.outbox.add(
            uow.connection,
            Notification(recipient="ann@example.com", subject="s", body="b", kind="claimed"),
            claimed=True,
        )
        uow.commit()
        assert added.id is not None
        return added.id

    first = pr.db.run(write)
    assert pr.jobs.run_now("outbox.deliver") == 0  # the writer's: the worker leaves it
    assert pr.outbox.deliver_claimed([first]) == 1
    assert pr.outbox.deliver_claimed([first]) == 0  # delivered once
    assert list(inbox.received) == [first]
    # a writer that never delivers it (it died): the worker does once the lease runs out
    second = pr.db.run(write)
    clock.advance(timedelta(minutes=5))
    assert pr.jobs.run_now("outbox.deliver") == 1
    assert list(inbox.received) == [first, second]
