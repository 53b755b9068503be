"""Group commit: callers on several threads have their items stored by one transaction.

``GroupCommit.submit(item)`` blocks until the item's batch ran and answers the item's
result (or raises its error). The first caller to arrive while no batch runs leads: it
takes every item waiting (its own first, at most ``max_batch``), runs the batch in its
own thread, answers each caller of the batch, and passes the lead to the oldest caller
still waiting. Callers that arrive while a batch runs wait for the next one, so under
load batches grow by themselves; a caller alone runs a batch of one at once. No thread
of its own: nothing to start or stop.

A caller can be announced before its item is ready (``expect``: an SMTP client has
begun sending an email). A leader waits up to ``gather`` seconds for the items
announced to join its batch, as PostgreSQL's ``commit_delay`` waits for the other
transactions in progress: the batch's fixed cost (its round trips, its commit) is then
shared by more items. Nothing announced, no wait.

``postroom mail serve``'s SMTP handler threads take inbound email this way
(``inbound.CaseMail.receive``): one commit, one wait on the year's counter row and no
wait on SQLite's write lock for the emails of several clients at once.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item, as R is the result
R = TypeVar("R")

#: ``work(items)``: one result per item, in their order; an exception in an item's
#: place is raised to that item's caller alone.
BatchWork = Callable[[Sequence[I]], Sequence[R | BaseException]]


class _Ticket(Generic[I, R]):
    __slots__ = ("answer", "answered", "item", "ready")

    def __init__(self, item: I) -> None:
        self.item = item
        self.ready = threading.Event()
        self.answered = False
        self.answer: R | BaseException | None = None


class GroupCommit(Generic[I, R]):
    """Batches ``submit``'s items from concurrent callers into calls of ``work``."""

    def __init__(self, work: BatchWork[I, R], *, max_batch: int = 64, gather: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one item")
        self._work = work
        self._max_batch = max_batch
        self._gather = gather
        self._lock = threading.Lock()
        self._joined = threading.Condition(self._lock)
        self._queue: list[_Ticket[I, R]] = []
        #: callers announced, whose items are not submitted yet (a caller that goes
        #: away without submitting leaves with its token)
        self._coming: weakref.WeakSet[object] = weakref.WeakSet()
        self._leading = False
        #: batches run, and the most items one held (for the bench and the docs)
        self.batches = 0
        self.largest = 0

    @property
    def waiting(self) -> int:
        """How many callers wait for a batch to take their item."""
        with self._lock:
            return len(self._queue)

    @property
    def coming(self) -> int:
        """How many callers are announced and have not submitted their item yet."""
        with self._lock:
            return len(self._coming)

    def expect(self, token: object) -> None:
        """A caller's item is on its way (``token`` stands for the caller: it submits
        with it, or ``forget``s it, or goes away with it)."""
        with self._lock:
            self._coming.add(token)

    def forget(self, token: object) -> None:
        """The caller ``token`` stands for will not submit after all."""
        with self._joined:
            self._coming.discard(token)
            self._joined.notify_all()

    def submit(self, item: I, token: object | None = None) -> R:
        """Have ``item`` stored with whatever else is waiting; its result, once its
        batch is done (an error of its own is raised here). ``token``: the caller's,
        when it was announced (``expect``)."""
        ticket: _Ticket[I, R] = _Ticket(item)
        with self._joined:
            if token is not None:
                self._coming.discard(token)
                self._joined.notify_all()
            self._queue.append(ticket)
            lead = not self._leading
            self._leading = True
        if not lead:
            ticket.ready.wait()
        if not ticket.answered:  # it leads: its item is the first waiting
            self._lead()
        answer = ticket.answer
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._joined:
            if self._gather > 0 and self._coming:
                until = time.monotonic() + self._gather
                while self._coming and len(self._queue) < self._max_batch:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._joined.wait(left)
            batch = self._queue[: self._max_batch]
            del self._queue[: len(batch)]
        try:
            answers = list(self._work([t.item for t in batch]))
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} results for a batch of {len(batch)}")
        except BaseException as error:  # every caller of the batch learns of it
            answers = [error] * len(batch)
        for ticket, answer in zip(batch, answers, strict=True):
            ticket.answer = answer
            ticket.answered = True
        with self._lock:
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            if self._queue:
                self._queue[0].ready.set()  # not answered: the oldest waiting leads next
            else:
                self._leading = False
        for ticket in batch:
            ticket.ready.set()
