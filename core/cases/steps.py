"""The seam between the cases service and its desks (``supervision.Supervision``,
``claims_desk.ClaimsDesk``): the store, the clock and the other areas' ports the
service was given, and the service's own steps (a case found, opened, moved; a message
posted; a line of history), so that every desk changes a case the way the service
does. ``service.CasesService`` builds the one implementation and hands it to its desks;
nothing else reaches into the service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from postroom.core.cases.calendar import BusinessCalendar
from postroom.core.cases.model import (
    Actor,
    AttachmentRef,
    Case,
    Channel,
    Contact,
    Link,
    Message,
    Priority,
    QueueFilter,
    SlaTargets,
    StaffMember,
    Status,
)
from postroom.core.cases.ports import (
    CustomerAccounts,
    LinkTargets,
    Session,
    StaffDirectory,
    StaffMail,
    Transactions,
)
from postroom.core.cases.store import CaseRepository
from postroom.core.clock import Clock

if TYPE_CHECKING:
    from postroom.core.cases.service import OpenRequest


class CaseSteps(Protocol):
    """What a desk of the cases area builds on."""

    @property
    def db(self) -> Transactions: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def accounts(self) -> CustomerAccounts: ...

    @property
    def staff(self) -> StaffDirectory: ...

    @property
    def mail(self) -> StaffMail: ...

    @property
    def links(self) -> LinkTargets: ...

    @property
    def targets(self) -> SlaTargets: ...

    def repository(self, session: Session) -> CaseRepository:
        """The area's repository on ``session``'s transaction."""
        ...

    def find(self, number: str) -> Case | None:
        """The case (a merged number resolves to the survivor), None if none."""
        ...

    def found(self, number: str) -> Case:
        """``find``, or ``case_not_found``."""
        ...

    def calendar(self, customer_number: str | None) -> BusinessCalendar: ...

    def staff_member(self, user_id: object) -> StaffMember: ...

    def request(
        self,
        *,
        by: Actor,
        subject: str,
        description: str,
        channel: str | Channel,
        customer_number: str | None = None,
        priority: str | Priority = Priority.NORMAL,
        department: str | None = None,
        contact: Contact | None = None,
        links: Iterable[Link] = (),
        message_id: str | None = None,
        attachments: Iterable[AttachmentRef] = (),
    ) -> OpenRequest:
        """A case to open, checked (``CasesService.open``'s arguments)."""
        ...

    def open(
        self,
        *,
        by: Actor,
        subject: str,
        description: str,
        channel: str | Channel,
        customer_number: str | None = None,
        priority: str | Priority = Priority.NORMAL,
        department: str | None = None,
        contact: Contact | None = None,
        links: Iterable[Link] = (),
        message_id: str | None = None,
        attachments: Iterable[AttachmentRef] = (),
    ) -> Case:
        """``CasesService.open``: a case opened in a transaction of its own."""
        ...

    def open_request(
        self, session: Session, request: OpenRequest, calendar: BusinessCalendar
    ) -> Case:
        """Open ``request`` in ``session``'s transaction: its number, routing, SLA
        deadlines, first message and history."""
        ...

    def moved(
        self,
        repository: CaseRepository,
        case: Case,
        target: Status,
        by: Actor,
        now: datetime,
        calendar: BusinessCalendar,
        reason: str = "",
    ) -> Case:
        """``case`` moved to ``target`` with its clocks and a history line (not stored)."""
        ...

    def post(
        self, session: Session, repository: CaseRepository, case: Case, message: Message
    ) -> Message:
        """Store ``message`` on ``case`` and tell the message listeners."""
        ...

    def history(
        self,
        repository: CaseRepository,
        case: Case,
        by: Actor,
        at: datetime,
        action: str,
        detail: str,
    ) -> None: ...

    def queue(self, query: QueueFilter) -> list[Case]:
        """The cases under ``query``, nearest deadline first (no actor check)."""
        ...

    def escalated(self, case: Case) -> None:
        """Tell the escalation listeners (after the commit)."""
        ...
