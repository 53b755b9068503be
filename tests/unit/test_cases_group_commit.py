"""Group commit (core.cases.group_commit) and the email channel's batches on fakes:
emails that arrive together are kept in one transaction, answered after it, and one
email at fault in a batch fails alone. Threads, no I/O."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from postroom.core.cases.group_commit import GroupCommit
from postroom.core.cases.inbound import EmailToCase
from postroom.core.cases.mail_model import Outcome
from postroom.core.errors import ValidationError
from tests.unit.test_cases_mail_use_cases import Channel, _email

WAIT = 10.0


def _until(condition: Callable[[], bool]) -> None:
    """Wait (briefly, in steps of a millisecond) until the other threads got there."""
    pause = threading.Event()
    for _ in range(int(WAIT * 1000)):
        if condition():
            return
        pause.wait(0.001)
    raise AssertionError("the other threads never got there")


class HeldBatches:
    """``work`` of a GroupCommit whose first batch waits until ``hold`` more callers
    wait behind it: the next batch then holds them all."""

    def __init__(
        self,
        hold: int,
        answer: Callable[[Any], Any] = lambda item: item * 10,
        *,
        max_batch: int = 64,
    ) -> None:
        self.hold = hold
        self.answer = answer
        self.batches: list[list[Any]] = []
        self.entered = threading.Event()
        self.group: GroupCommit[Any, Any] = GroupCommit(self.work, max_batch=max_batch)

    def work(self, items: Sequence[Any]) -> list[Any]:
        if not self.entered.is_set():
            self.entered.set()
            _until(lambda: self.group.waiting >= self.hold)
        self.batches.append(list(items))
        return [self.answer(item) for item in items]

    def submit_all(self, first: Any, rest: Sequence[Any]) -> list[Any]:
        """``first`` submitted alone, then ``rest`` at once while it is being taken:
        each caller's answer (its exception when it got one)."""

        def submit(item: Any) -> Any:
            try:
                return self.group.submit(item)
            except Exception as error:
                return error

        with ThreadPoolExecutor(len(rest) + 1) as pool:
            leading = pool.submit(submit, first)
            assert self.entered.wait(WAIT)
            following = [pool.submit(submit, item) for item in rest]
            return [leading.result(WAIT), *(f.result(WAIT) for f in following)]


def test_callers_that_arrive_while_a_batch_runs_are_taken_together_each_with_its_answer():
    held = HeldBatches(hold=3)
    answers = held.submit_all(1, [2, 3, 4])
    assert answers == [10, 20, 30, 40]
    assert held.batches[0] == [1]
    assert sorted(held.batches[1]) == [2, 3, 4]
    assert (held.group.batches, held.group.largest) == (2, 3)


def test_a_caller_alone_is_taken_at_once():
    group: GroupCommit[int, int] = GroupCommit(lambda items: [i + 1 for i in items])
    assert [group.submit(n) for n in range(3)] == [1, 2, 3]
    assert (group.batches, group.largest, group.waiting) == (3, 1, 0)


def test_an_error_in_one_items_place_is_raised_to_its_caller_alone():
    def answer(item: int) -> Any:
        return ValueError(f"bad {item}") if item == 3 else item

    held = HeldBatches(hold=3, answer=answer)
    answers = held.submit_all(1, [2, 3, 4])
    assert answers[:2] == [1, 2]
    assert answers[3] == 4
    assert isinstance(answers[2], ValueError)


def test_a_batch_that_fails_as_a_whole_fails_its_callers_and_the_next_batch_runs():
    calls = []

    def work(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("store down")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(work)
    with pytest.raises(RuntimeError, match="store down"):
        group.submit(1)
    assert group.submit(2) == 2


class _Caller:
    """What a caller announced itself with (an SMTP session, in the email channel)."""


def test_a_leader_waits_for_an_announced_caller_and_takes_its_item_along():
    batches: list[list[int]] = []

    def work(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(work, gather=WAIT)
    on_its_way = _Caller()
    group.expect(on_its_way)
    with ThreadPoolExecutor(1) as pool:
        leading = pool.submit(group.submit, 1)
        _until(lambda: group.waiting == 1)  # it leads, and waits for the one announced
        assert batches == []
        assert group.submit(2, on_its_way) == 20
        assert leading.result(WAIT) == 10
    assert batches == [[1, 2]]
    assert group.coming == 0


def test_a_caller_that_is_forgotten_or_gone_is_not_waited_for():
    group: GroupCommit[int, int] = GroupCommit(lambda items: list(items), gather=WAIT)
    reset, gone = _Caller(), _Caller()
    group.expect(reset)
    group.expect(gone)
    group.forget(reset)  # RSET
    del gone  # its session closed
    assert group.coming == 0
    assert group.submit(1) == 1  # at once: nobody is on their way


def test_a_batch_holds_at_most_max_batch_items():
    held = HeldBatches(hold=3, max_batch=2)
    assert held.submit_all(0, [1, 2, 3]) == [0, 10, 20, 30]
    assert [len(batch) for batch in held.batches] == [1, 2, 1]


# ------------------------------------------------ the email channel's batches


def _held_channel(hold: int) -> tuple[Channel, threading.Event]:
    """A channel whose first email waits, in the cases area, until ``hold`` more emails
    wait for the next batch; and the event set once it waits there."""
    channel = Channel()
    entered = threading.Event()

    def before(email: EmailToCase) -> None:
        if not entered.is_set():
            entered.set()
            _until(lambda: channel.mail.batches.waiting >= hold)

    channel.desk.before = before
    return channel, entered


def _answer(channel: Channel, raw: bytes) -> Any:
    """What ``receive`` answered a caller: its result, or the exception it got."""
    try:
        return channel.mail.receive(raw)
    except Exception as error:
        return error


def _receive_all(held: tuple[Channel, threading.Event], emails: Sequence[bytes]) -> list[Any]:
    """The first email received alone, the others at once while it is being taken:
    each caller's answer (the exception it got, if any)."""
    channel, entered = held

    receive = functools.partial(_answer, channel)

    with ThreadPoolExecutor(len(emails)) as pool:
        leading = pool.submit(receive, emails[0])
        assert entered.wait(WAIT)
        following = [pool.submit(receive, raw) for raw in emails[1:]]
        return [leading.result(WAIT), *(f.result(WAIT) for f in following)]


def _emails(*subjects: str) -> list[bytes]:
    return [
        _email(f"sender{n}@example.com", subject, f"<b{n}@example.com>").as_bytes()
        for n, subject in enumerate(subjects)
    ]


def test_emails_that_arrive_together_are_kept_in_one_transaction_then_acknowledged():
    held = _held_channel(hold=3)
    channel = held[0]
    answers = _receive_all(held, _emails("first", "two", "three", "four"))
    assert [a.outcome for a in answers] == [Outcome.OPENED] * 4
    assert sorted(a.case_number for a in answers) == [f"C-2026-00000{n}" for n in range(1, 5)]
    # the first alone, the three that waited for it together
    assert channel.db.state.commits == [1, 3]
    assert len(channel.messages.delivered) == 4  # acknowledged, after the commits


def test_one_email_the_cases_area_refuses_fails_alone_and_the_others_of_its_batch_are_kept():
    held = _held_channel(hold=3)
    channel = held[0]
    channel.desk.refuse_subject = ("poison", ValidationError("no", code="subject_refused"))
    answers = _receive_all(held, _emails("first", "two", "poison", "four"))
    by_subject = dict(zip(["first", "two", "poison", "four"], answers, strict=True))
    assert by_subject["poison"].outcome is Outcome.REJECTED
    assert by_subject["poison"].reason == "subject_refused"
    kept = [by_subject[s] for s in ("first", "two", "four")]
    assert [a.outcome for a in kept] == [Outcome.OPENED] * 3
    # the batch's transaction was rolled back whole: the numbers have no gap
    assert sorted(a.case_number for a in kept) == [f"C-2026-00000{n}" for n in range(1, 4)]
    assert sorted(channel.desk.cases) == [f"C-2026-00000{n}" for n in range(1, 4)]
    # each email is kept once, each good one acknowledged once, the refused one not
    assert len(channel.mail.kept()) == 4
    acknowledged = sorted(m.recipient for m in channel.outbox)
    assert acknowledged == ["sender0@example.com", "sender1@example.com", "sender3@example.com"]
    assert sorted(channel.messages.delivered) == sorted(m.id for m in channel.outbox)
    # the batch failed, then its three emails were taken one by one
    assert channel.db.state.commits == [1, 1, 1, 1]


def test_an_unexpected_error_with_one_email_fails_that_email_alone():
    held = _held_channel(hold=2)
    channel = held[0]
    channel.desk.refuse_subject = ("bug", RuntimeError("a bug"))
    answers = _receive_all(held, _emails("first", "bug", "three"))
    assert isinstance(answers[1], RuntimeError)  # its SMTP client is answered 451
    assert [answers[0].outcome, answers[2].outcome] == [Outcome.OPENED] * 2
    assert len(channel.mail.kept()) == 2  # the failed one is not kept: it comes again


def test_emails_committed_stay_as_they_are_when_their_acknowledgements_cannot_be_handed_over():
    held = _held_channel(hold=2)
    channel = held[0]
    channel.messages.hand_over_error = ConnectionError("the outgoing server is down")
    answers = _receive_all(held, _emails("first", "two", "three"))
    # kept once each, opened: the worker sends the claimed acknowledgements later
    assert [a.outcome for a in answers] == [Outcome.OPENED] * 3
    assert len(channel.mail.kept()) == 3
    assert len(channel.outbox) == 3
    assert channel.db.state.commits == [1, 2]


def _queued(channel: Channel, n: int) -> bool:
    """Whether ``n`` emails waited behind the first. Once the first batch ran they all
    had (it waits for them), and the next batch may already have taken them: a thread
    that looks only at ``waiting`` can miss that moment on a busy machine."""
    batches = channel.mail.batches
    return batches.waiting >= n or batches.batches > 0


def _receive_in_order(held: tuple[Channel, threading.Event], emails: Sequence[bytes]) -> list[Any]:
    """``_receive_all``, the emails after the first queued in their order (each waits
    for the batch before the next one comes)."""
    channel, entered = held

    receive = functools.partial(_answer, channel)

    with ThreadPoolExecutor(len(emails)) as pool:
        leading = pool.submit(receive, emails[0])
        assert entered.wait(WAIT)
        following = []
        for n, raw in enumerate(emails[1:], start=1):
            following.append(pool.submit(receive, raw))
            _until(lambda n=n: _queued(channel, n))  # type: ignore[misc]
        return [leading.result(WAIT), *(f.result(WAIT) for f in following)]


def test_the_new_cases_of_a_batch_are_opened_together_and_its_senders_read_once():
    held = _held_channel(hold=3)
    channel = held[0]
    answers = _receive_all(held, _emails("first", "two", "three", "four"))
    assert [a.outcome for a in answers] == [Outcome.OPENED] * 4
    # one call to the cases area for the batch's three new cases (their numbers taken
    # together), one read of its three senders
    assert channel.desk.opened_together == [1, 3]
    assert channel.senders.looked_up == [1, 3]
    assert len(channel.outbox) == 4  # each acknowledged


def test_an_email_sees_the_cases_opened_before_it_in_its_batch():
    held = _held_channel(hold=4)
    channel = held[0]
    new = _email("ann@example.com", "Meter locked", "<x@example.com>")
    reply = _email("ann@example.com", "More", "<y@example.com>", In_Reply_To="<x@example.com>")
    again = _email("ann@example.com", "Meter locked", "<x@example.com>")  # a server's retry
    other = _email("bob@example.com", "Scale broken", "<z@example.com>")
    first = _emails("first")[0]
    answers = _receive_in_order(held, [first, *(e.as_bytes() for e in (new, reply, again, other))])
    outcomes = [a.outcome for a in answers]
    assert outcomes == [
        Outcome.OPENED,
        Outcome.OPENED,
        Outcome.APPENDED,  # the reply lands in the case its batch opened before it
        Outcome.DUPLICATE,
        Outcome.OPENED,
    ]
    assert [a.case_number for a in answers] == [
        "C-2026-000001",
        "C-2026-000002",
        "C-2026-000002",
        "C-2026-000002",
        "C-2026-000003",
    ]
    assert [e.subject for e in channel.desk.cases["C-2026-000002"].emails] == [
        "Meter locked",
        "More",
    ]
    assert channel.db.state.commits == [1, 4]
    assert len(channel.outbox) == 3  # the three new cases acknowledged, nothing else
