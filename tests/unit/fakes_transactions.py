"""In-memory stand-ins for the database plumbing, for use cases run on fakes (no I/O).

``FakeDatabase.run`` gives ``work`` a unit of work that only records ``commit()``; the
fakes it was given (repositories, other areas' services) keep their state on themselves,
and a unit of work that raises or never commits puts that state back, as a rolled-back
transaction would: a refused request leaves nothing behind on fakes either.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class FakeUnitOfWork:
    def __init__(self, readonly: bool) -> None:
        self.readonly = readonly
        self.committed = False
        self.commit_sent = False

    @property
    def connection(self) -> Any:
        """What a use case hands its fakes as the connection (the outbox's ``add``):
        the unit of work itself; a real repository would fail on it at once."""
        return self

    def commit(self) -> None:
        assert not self.readonly, "a read-only unit of work committed"
        self.committed = self.commit_sent = True


class FakeDatabase:
    """Runs units of work over the state of ``holders`` (objects whose public attributes
    are the fake tables), restoring it when a unit of work fails or does not commit.
    Attributes named with a leading underscore are wiring (the database, a clock), not
    state, and are left alone."""

    def __init__(self, *holders: object) -> None:
        self.holders = list(holders)
        self.runs = 0

    def hold(self, *holders: object) -> None:
        self.holders.extend(holders)

    def run(self, work: Callable[[FakeUnitOfWork], T], *, readonly: bool = False) -> T:
        self.runs += 1
        saved = [
            copy.deepcopy({k: v for k, v in vars(h).items() if not k.startswith("_")})
            for h in self.holders
        ]
        uow = FakeUnitOfWork(readonly)
        try:
            result = work(uow)
        except BaseException:
            self._restore(saved)
            raise
        if not uow.committed:
            self._restore(saved)
        return result

    def _restore(self, saved: list[dict[str, Any]]) -> None:
        for holder, state in zip(self.holders, saved, strict=True):
            vars(holder).update(state)


class FakeSession:
    """A transaction of ``StateDatabase``: it only records ``commit()`` (the fakes keep
    no connection)."""

    def __init__(self) -> None:
        self.committed = False
        self.connection: Any = None

    def commit(self) -> None:
        self.committed = True


S = TypeVar("S")


class StateDatabase(Generic[S]):
    """Runs units of work over one ``state`` (an area's fake tables, which its fake
    repositories read and write), putting it back when a unit of work raises or does
    not commit, as a rolled-back transaction would."""

    def __init__(self, state: S) -> None:
        self.state = state
        self.runs = 0

    def run(self, work: Callable[[FakeSession], T], *, readonly: bool = False) -> T:
        self.runs += 1
        before = copy.deepcopy(self.state)
        session = FakeSession()
        try:
            result = work(session)
        except BaseException:
            self.state = before
            raise
        if not session.committed:
            self.state = before
        else:
            self.committed(before, readonly=readonly)
        return result

    def committed(self, before: S, *, readonly: bool) -> None:
        """Called after a unit of work committed (``before``: the state it started
        from); nothing by default."""
