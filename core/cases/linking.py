"""Merging a duplicate case into another and linking a case to what it is about
(``pr.case_links``; staff only), for the agent console and the CLI.

A merge moves the duplicate's whole thread and its links to the surviving case, links
the two, closes the duplicate and records where it went (``merged_into``), so its
number leads to the survivor everywhere a number is looked up. Two cases of different
customer accounts are never merged: that would show one account's thread to another.
A meter link names one of the case's account's meters (``meter_not_found`` else).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from postroom.core.cases import model
from postroom.core.cases.model import Actor, Case, HistoryEntry, Link, LinkKind, Status
from postroom.core.cases.ports import Session, Transactions
from postroom.core.cases.store import CaseRepository, CaseStore
from postroom.core.clock import Clock
from postroom.core.errors import NotFound, PermissionDenied, ValidationError

#: ``check(customer_number, serial)`` raises NotFound unless the meter is the account's
MeterCheck = Callable[[str, str], object]


def _store(session: Session) -> CaseRepository:
    return CaseStore(session.connection)


def _staff_only(by: Actor) -> None:
    if not isinstance(by, Actor) or not by.is_staff:
        raise PermissionDenied("staff only", code="staff_only")


def _number(text: str) -> str:
    try:
        return model.parse_case_number(text)
    except ValidationError:
        raise NotFound(f"no case {text!r}", code="case_not_found") from None


def _live(repository: CaseRepository, number: str) -> Case:
    """The case, locked; ``case_not_found`` for none or one merged away already."""
    case = repository.lock(number)
    if case is None or case.merged_into is not None:
        raise NotFound(f"no case {number!r}", code="case_not_found")
    return case


def check_mergeable(duplicate: Case, survivor: Case) -> None:
    """Refuse merging a case into itself or across customer accounts."""
    if duplicate.id == survivor.id:
        raise ValidationError("a case is not merged into itself", code="merge_into_itself")
    if duplicate.customer_number != survivor.customer_number:
        raise ValidationError(
            "cases of different customer accounts are not merged", code="merge_other_account"
        )


class CaseLinks:
    """``pr.case_links``: merge duplicates, link cases to meters, invoices, orders,
    shipments."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        meter_check: MeterCheck,
        repository: Callable[[Session], CaseRepository] = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._repository = repository
        self._meter_check = meter_check

    def merge(self, number: str, into: str, *, by: Actor) -> Case:
        """Merge case ``number`` into case ``into``; return the surviving case."""
        _staff_only(by)
        duplicate_number, survivor_number = _number(number), _number(into)
        now = self._clock.now()

        def work(uow: Session) -> Case:
            repository = self._repository(uow)
            # lock in number order, so two opposite merges cannot deadlock
            first, second = sorted((duplicate_number, survivor_number))
            locked = {first: _live(repository, first)}
            locked[second] = locked[first] if first == second else _live(repository, second)
            duplicate, survivor = locked[duplicate_number], locked[survivor_number]
            check_mergeable(duplicate, survivor)
            moved = repository.move_messages(duplicate.id, survivor.id)
            for link in (*duplicate.links, Link(LinkKind.CASE, duplicate.number)):
                repository.add_link(survivor.id, link)
            closed = attrs.evolve(
                duplicate,
                status=Status.CLOSED,
                closed_at=now,
                resolved_at=duplicate.resolved_at or now,
                waiting_since=None,
                merged_into=survivor.number,
                updated_at=now,
            )
            repository.update(closed)
            repository.update(attrs.evolve(survivor, updated_at=now))
            self._history(repository, duplicate, by, now, "merged", survivor.number)
            self._history(repository, survivor, by, now, "merged", f"{duplicate.number} ({moved})")
            uow.commit()
            found = repository.get(survivor.number)
            assert found is not None  # locked above
            return found

        return self._db.run(work)

    def link(self, number: str, kind: str, reference: str, *, by: Actor) -> Case:
        """Link case ``number`` to a meter, invoice, order or shipment (a case link
        comes from a merge or a follow-up, not from here)."""
        _staff_only(by)
        clean = _number(number)
        link = model.parse_link(kind, reference)
        if link.kind is LinkKind.CASE:
            raise ValidationError("cases are linked by merging", code="invalid_link")
        if link.kind is LinkKind.METER:
            # checked before the write: the meter registry reads in its own transaction
            self._check_meter(clean, link.reference)
        now = self._clock.now()

        def work(uow: Session) -> Case:
            repository = self._repository(uow)
            case = _live(repository, clean)
            if repository.add_link(case.id, link):
                repository.update(attrs.evolve(case, updated_at=now))
                self._history(
                    repository, case, by, now, "link", f"{link.kind.value} {link.reference}"
                )
                uow.commit()
            found = repository.get(case.number)
            assert found is not None
            return found

        return self._db.run(work)

    def _check_meter(self, number: str, serial: str) -> None:
        case = self._db.run(lambda uow: self._repository(uow).get(number), readonly=True)
        if case is None or case.merged_into is not None:
            raise NotFound(f"no case {number!r}", code="case_not_found")
        try:
            if case.customer_number is None:
                raise NotFound("the case has no customer account")
            self._meter_check(case.customer_number, serial)
        except NotFound:
            raise NotFound(f"no meter {serial} on the account", code="meter_not_found") from None

    @staticmethod
    def _history(
        repository: CaseRepository, case: Case, by: Actor, at: datetime, action: str, detail: str
    ) -> None:
        repository.add_history(HistoryEntry(case.id, at, by.label, action, detail))
