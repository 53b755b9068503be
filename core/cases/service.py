"""Use cases of the support-cases area (``pr.cases``); each runs in one unit of work.

Who may call what: a customer (``Actor.customer``) opens cases on their own account,
reads them (never the internal notes), writes to them and closes them; any other
account's case answers ``case_not_found``, exactly like a number that does not exist.
A contact known only by an address (the email channel) reaches only the cases whose
contact is that address. Staff (``Actor.staff``) do everything else: the queues,
replies, notes, assignment, status changes. The frontends say who the actor is; this
service checks what that actor may do.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.cases import model, routing, sla
from postroom.core.cases.access import (
    case_number,
    detail_for,
    locked,
    may_write,
    not_found,
    resolve,
    staff_only,
)
from postroom.core.cases.calendar import BusinessCalendar, calendar_for
from postroom.core.cases.claims_desk import ClaimsDesk
from postroom.core.cases.model import (
    AccountProfile,
    Actor,
    ActorKind,
    AttachmentRef,
    Case,
    CaseDetail,
    CaseSummary,
    Channel,
    Contact,
    HistoryEntry,
    Link,
    LinkKind,
    Message,
    MessageKind,
    Priority,
    QueueFilter,
    SlaTargets,
    StaffMember,
    Status,
)
from postroom.core.cases.ports import (
    ClaimRefunds,
    CustomerAccounts,
    EscalationListener,
    LinkTargets,
    Session,
    ShipmentLookup,
    StaffDirectory,
    StaffMail,
    TrackingNumberAsGiven,
    Transactions,
)
from postroom.core.cases.sla import SlaView
from postroom.core.cases.store import CaseRepository, CaseStore
from postroom.core.cases.supervision import Supervision
from postroom.core.clock import Clock
from postroom.core.errors import NotFound, PermissionDenied, ValidationError
from postroom.core.timezones import default_time_zone

RepositoryFactory = Callable[[Session], CaseRepository]
#: called in the transaction of every new message: (session, case, message). The email
#: channel sends agent replies from here, in the same commit.
MessageListener = Callable[[Session, Case, Message], None]


def _store(session: Session) -> CaseRepository:
    return CaseStore(session.connection)


@attrs.frozen
class Posted:
    """A customer's message and the case it went to: the one asked for, or a follow-up
    opened because that one was closed."""

    case: Case
    message: Message
    follow_up: bool = False


class CasesService:
    """``pr.cases``: support cases of customer accounts."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        accounts: CustomerAccounts,
        staff: StaffDirectory,
        mail: StaffMail,
        refunds: ClaimRefunds,
        links: LinkTargets,
        shipments: ShipmentLookup | None = None,
        targets: SlaTargets | None = None,
        reopen_days: int = model.DEFAULT_REOPEN_DAYS,
        warning_minutes: int = 60,
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._staff = staff
        self._mail = mail
        self._links = links
        self.targets = targets or SlaTargets()
        self.reopen_days = reopen_days
        self._repository = repository
        self._listeners: list[MessageListener] = []
        self._escalation_listeners: list[EscalationListener] = []

        steps = _Steps(self)
        supervision = Supervision(steps, warning_minutes=warning_minutes)
        # routing and people
        self.set_agent = supervision.set_agent
        self.agents = supervision.agents
        self.set_account_profile = supervision.set_account_profile
        self.account_profile = supervision.account_profile
        # SLAs and escalation
        self.escalate = supervision.escalate
        self.priority_queue = supervision.priority_queue
        self.watch_slas = supervision.watch_slas
        self.merge = supervision.merge
        self.link_account = supervision.link_account
        self.add_link = supervision.add_link
        self.report = supervision.report
        desk = ClaimsDesk(steps, refunds=refunds, shipments=shipments or TrackingNumberAsGiven())
        # traces and claims
        self.request_trace = desk.request_trace
        self.file_claim = desk.file_claim
        self.claim = desk.claim
        self.claim_for_staff = desk.claim_for_staff
        self.add_claim_document = desk.add_claim_document
        self.decide_claim = desk.decide_claim

    def staff_member(self, user_id: object) -> StaffMember:
        """The staff user ``user_id`` (``staff_not_found`` for anyone else)."""
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise ValidationError("a staff member is a user id", code="invalid_staff_id")
        for member in self._staff.staff():
            if member.id == user_id:
                return member
        raise NotFound(f"no staff member {user_id}", code="staff_not_found")

    def add_escalation_listener(self, listener: EscalationListener) -> None:
        """Call ``listener(case)`` after each escalation is committed (core/app.py
        fires the ``case_escalated`` hook from here)."""
        self._escalation_listeners.append(listener)

    def add_message_listener(self, listener: MessageListener) -> None:
        """Call ``listener(session, case, message)`` in the transaction of every new
        message (customer, agent or note)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------- calendars

    def calendar(self, customer_number: str | None) -> BusinessCalendar:
        """The working calendar of the account: its time zone (default by country),
        its country's and subdivision's holidays; a case without an account runs on
        UTC weekdays."""
        if customer_number is None:
            return calendar_for("UTC", "")
        account = self._accounts.get(customer_number)
        profile = self._db.run(
            lambda uow: self._repository(uow).profile(account.number), readonly=True
        )
        return _calendar_of(account, profile)

    def sla(self, case: Case) -> SlaView:
        """The SLA of ``case`` now (deadlines, pause, breach)."""
        return sla.view(case, self.calendar(case.customer_number), self.targets, self._clock.now())

    def slas(self, cases: Iterable[Case]) -> builtins.list[SlaView]:
        """The SLAs of a page of cases, each account's calendar looked up once."""
        listed = builtins.list(cases)
        now = self._clock.now()
        calendars = {n: self.calendar(n) for n in {c.customer_number for c in listed}}
        return [sla.view(c, calendars[c.customer_number], self.targets, now) for c in listed]

    # ------------------------------------------------------------------ open

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
        """Open a case: a customer on their own account, staff on any (logging a call,
        a letter, a social-media message with the caller's details), a contact known
        only by an address without one. ``department`` is the customer's choice; else
        the routing rules choose."""
        request = self._request(
            by=by,
            subject=subject,
            description=description,
            channel=channel,
            customer_number=customer_number,
            priority=priority,
            department=department,
            contact=contact,
            links=links,
            message_id=message_id,
            attachments=attachments,
        )
        calendar = self.calendar(request.customer_number)

        def work(uow: Session) -> Case:
            case = self._open(uow, request, calendar)
            uow.commit()
            return case

        return self._db.run(work)

    def open_in(self, connection: Any, **kwargs: Any) -> Case:
        """``open`` on the caller's transaction ``connection`` (it commits or rolls back
        with the caller's work): another area hands a request over as a case."""
        return self.open_all_in(connection, [kwargs])[0]

    def open_all_in(
        self, connection: Any, requests: Sequence[Mapping[str, Any]]
    ) -> builtins.list[Case]:
        """``open_in`` of each of ``requests`` (``open``'s arguments), in their order and
        as if one after the other (routing counts the cases assigned before, a
        recurring problem the cases opened before), in fewer statements: the desk's
        agents and each account read once, the year's numbers taken in one statement
        (after the reads: the counter stays locked until the caller's commit), the
        cases, their first messages and history written in one statement each where
        the store can (the email channel's batches, issue 14). Any refused request
        refuses them all: none is opened."""
        checked = [self._request(**request) for request in requests]
        uow = _Joined(connection)
        repository = self._repository(uow)
        calendars: dict[str | None, BusinessCalendar] = {None: calendar_for("UTC", "")}
        for request in checked:
            number = request.customer_number
            if number is not None and number not in calendars:
                # the profile read on the caller's transaction: no transaction of its own
                calendars[number] = _calendar_of(
                    self._accounts.get(number), repository.profile(number)
                )
        return self._open_all(
            uow, [(request, calendars[request.customer_number]) for request in checked]
        )

    def _request(
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
        if not isinstance(by, Actor):
            raise ValidationError("say who opens the case", code="invalid_actor")
        if by.kind is ActorKind.CUSTOMER:
            if customer_number not in (None, by.account):
                raise NotFound(f"no account {customer_number!r}", code="account_not_found")
            customer_number = by.account
        elif by.kind is ActorKind.CONTACT:
            customer_number = None
        account = None if customer_number is None else self._accounts.get(customer_number)
        clean_subject = model.parse_subject(subject)
        clean_description = model.parse_body(description)
        clean_channel = model.parse_channel(channel)
        clean_links = tuple(dict.fromkeys(_check_link(link) for link in links))
        chosen = None if department in (None, "") else model.parse_department(department)
        who = contact if contact is not None else Contact()
        if not isinstance(who, Contact):
            raise ValidationError("the contact is a Contact", code="invalid_contact")
        if by.kind is ActorKind.CONTACT and not who.email:
            who = attrs.evolve(who, email=by.id, name=who.name or by.name)
        if by.kind is ActorKind.CUSTOMER and not who.name:
            who = attrs.evolve(who, name=by.name)
        return OpenRequest(
            by=by,
            customer_number=None if account is None else account.number,
            subject=clean_subject,
            description=clean_description,
            channel=clean_channel,
            priority=model.parse_priority(priority),
            department=chosen
            or routing.department_for(clean_subject, clean_description, clean_channel, clean_links),
            contact=who,
            links=clean_links,
            message_id=model.parse_message_id(message_id),
            attachments=tuple(_check_attachment(a) for a in attachments),
        )

    def _open(self, uow: Session, request: OpenRequest, calendar: BusinessCalendar) -> Case:
        return self._open_all(uow, [(request, calendar)])[0]

    def _open_all(
        self, uow: Session, requests: Sequence[tuple[OpenRequest, BusinessCalendar]]
    ) -> builtins.list[Case]:
        """Open the cases of ``requests`` at one instant, in their order."""
        if not requests:
            return []
        repository = self._repository(uow)
        now = self._clock.now()
        router = _Router(repository)
        opened: dict[tuple[str, model.Department], int] = {}
        drafts = []
        for request, calendar in requests:
            recurring = False
            if request.customer_number is not None:
                key = (request.customer_number, request.department)
                if key not in opened:
                    opened[key] = repository.opened_since(
                        request.customer_number, request.department, now - model.RECURRING_WINDOW
                    )
                opened[key] += 1  # this one, and the batch's before it
                recurring = model.is_recurring_count(opened[key])
            assignee = router.route(request.customer_number, request.department)
            drafts.append((request, calendar, recurring, assignee))
        # the year's counter is locked from here to the commit (numbers have no gaps):
        # the reads above stay out of that wait
        first = repository.next_numbers(now.year, len(drafts))
        cases = []
        for n, (request, calendar, recurring, assignee) in enumerate(drafts):
            draft = Case(
                id=0,
                number=model.format_case_number(now.year, first + n),
                customer_number=request.customer_number,
                contact=request.contact,
                department=request.department,
                channel=request.channel,
                subject=request.subject,
                description=request.description,
                priority=request.priority,
                status=Status.NEW,
                opened_at=now,
                updated_at=now,
                recurring=recurring,
                links=request.links,
            )
            due = sla.deadlines(draft, calendar, self.targets)
            cases.append(
                attrs.evolve(
                    draft,
                    first_response_due=due.first_response_due,
                    resolution_due=due.resolution_due,
                    assignee_id=assignee,
                )
            )
        # each case's first message and history, written with the cases (their case
        # ids are filled in then)
        posts = []
        for case, (request, _calendar, recurring, _assignee) in zip(cases, drafts, strict=True):
            detail = (
                f"{request.channel.value}, {request.department.value}, {request.priority.value}"
            )
            history = [HistoryEntry(case.id, now, request.by.label, "opened", detail)]
            if case.assignee_id is not None:
                history.append(
                    HistoryEntry(
                        case.id, now, Actor.system().label, "assigned", str(case.assignee_id)
                    )
                )
            if recurring:
                history.append(
                    HistoryEntry(
                        case.id, now, Actor.system().label, "recurring", request.department
                    )
                )
            author = request.by
            if author.kind in (ActorKind.STAFF, ActorKind.SYSTEM):
                # an agent logs what the caller said: the first message is the caller's
                author = Actor.contact(
                    request.contact.email or request.contact.phone, request.contact.name
                )
            message = Message(
                id=0,
                case_id=case.id,
                kind=MessageKind.CUSTOMER,
                author=author,
                body=request.description,
                created_at=now,
                message_id=request.message_id or new_message_id(case.number),
                attachments=request.attachments,
            )
            posts.append((message, history))
        added, messages = repository.add_all_with_messages(cases, posts)
        for case, stored in zip(added, messages, strict=True):
            for listener in self._listeners:
                listener(uow, case, stored)
        return added

    def resolve_in(self, connection: Any, number: str, *, by: Actor, reason: str) -> Case | None:
        """Resolve case ``number`` on the caller's transaction ``connection``: another
        area did what the case asked (an address change applied or refused), and the
        history says so (``reason``). A case already resolved or closed stays as it is;
        None when there is no such case."""
        try:
            clean = model.parse_case_number(number)
        except ValidationError:
            return None
        why = model.parse_reason(reason)
        repository = self._repository(_Joined(connection))
        found = resolve(repository, clean)
        if found is None:
            return None
        case = locked(repository, found.number)
        if case.status not in model.ACTIVE:
            return case
        now = self._clock.now()
        calendar = self.calendar(case.customer_number)
        case = self._moved(repository, case, Status.RESOLVED, by, now, calendar, why)
        repository.update(case)
        return case

    # ----------------------------------------------------------------- reads

    def get(self, customer_number: str, number: str) -> CaseDetail:
        """The account's case with its thread as the customer sees it (no internal notes,
        no staff-only history); another account's case is ``case_not_found``."""
        clean = case_number(number)

        def work(uow: Session) -> CaseDetail:
            repository = self._repository(uow)
            case = resolve(repository, clean)
            if case is None or case.customer_number != customer_number:
                raise not_found(number)
            return detail_for(repository, case, public=True)

        return self._db.run(work, readonly=True)

    def get_for_contact(self, address: str, number: str) -> CaseDetail:
        """A case as the contact ``address`` (the email channel) may see it."""
        clean = case_number(number)

        def work(uow: Session) -> CaseDetail:
            repository = self._repository(uow)
            case = resolve(repository, clean)
            if case is None or not address or case.contact.email != address.strip().lower():
                raise not_found(number)
            return detail_for(repository, case, public=True)

        return self._db.run(work, readonly=True)

    def get_for_staff(self, number: str, *, by: Actor) -> CaseDetail:
        """The case with its whole thread and history (staff)."""
        staff_only(by)
        clean = case_number(number)

        def work(uow: Session) -> CaseDetail:
            repository = self._repository(uow)
            case = resolve(repository, clean)
            if case is None:
                raise not_found(number)
            return detail_for(repository, case, public=False)

        return self._db.run(work, readonly=True)

    def list(
        self,
        customer_number: str,
        *,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[Case]:
        """The account's cases, the nearest deadline first."""
        clean_limit, clean_offset = model.check_limit(limit, offset)
        statuses = () if status in (None, "") else (model.parse_status(status),)
        query = QueueFilter(
            statuses=statuses,
            customer_number=customer_number,
            limit=clean_limit,
            offset=clean_offset,
        )
        return self._queue(query)

    def open_of_customer_in(
        self, uow: Session, customer_number: str, *, limit: int = 5
    ) -> builtins.list[CaseSummary]:
        """The account's active cases, the nearest deadline first, read in the caller's
        transaction (the dashboard's support card)."""
        return self._repository(uow).active_summaries(customer_number, limit)

    def queue(self, query: QueueFilter, *, by: Actor) -> builtins.list[Case]:
        """The console's queue under ``query`` (staff)."""
        staff_only(by)
        if not isinstance(query, QueueFilter):
            raise ValidationError("give a queue filter", code="invalid_filter")
        model.check_limit(query.limit, query.offset)
        return self._queue(query)

    def _queue(self, query: QueueFilter) -> builtins.list[Case]:
        now = self._clock.now()
        return self._db.run(lambda uow: self._repository(uow).queue(query, now), readonly=True)

    def find_by_message_ids(self, message_ids: Iterable[str]) -> Case | None:
        """The case one of these email Message-Ids belongs to (the email channel's
        threading by In-Reply-To / References); None when none does."""
        wanted = [m for m in message_ids if isinstance(m, str) and m.strip()]
        return self._db.run(
            lambda uow: self._repository(uow).case_of_message_ids(wanted), readonly=True
        )

    def find(self, number: str) -> Case | None:
        """The case under ``number`` (a merged number resolves to the survivor), for a
        channel that checks the sender itself; None when there is none."""
        try:
            clean = model.parse_case_number(number)
        except ValidationError:
            return None
        return self._db.run(lambda uow: resolve(self._repository(uow), clean), readonly=True)

    def find_in(self, connection: Any, number: str) -> Case | None:
        """``find`` on the caller's transaction ``connection`` (it sees what that
        transaction wrote so far)."""
        try:
            clean = model.parse_case_number(number)
        except ValidationError:
            return None
        return resolve(self._repository(_Joined(connection)), clean)

    # ------------------------------------------------------------- messages

    def add_customer_message(
        self,
        number: str,
        body: str,
        *,
        by: Actor,
        channel: str | Channel = Channel.WEB,
        message_id: str | None = None,
        in_reply_to: str | None = None,
        attachments: Iterable[AttachmentRef] = (),
    ) -> Posted:
        """The customer (or the case's contact) writes to the case. Waiting on the
        customer: the case opens again and the SLA clock runs. Resolved within the
        reopen window: it reopens. Closed, or resolved longer ago: a follow-up case
        opens, linked to this one, and takes the message."""
        request = _customer_message(number, body, by, channel, message_id, in_reply_to, attachments)
        found = self.find(request.number)
        if found is None or not may_write(by, found):
            raise not_found(number)
        calendar = self.calendar(found.customer_number)

        def work(uow: Session) -> Posted:
            posted = self._add_customer_message(uow, request, found.number, calendar)
            uow.commit()
            return posted

        return self._db.run(work)

    def add_customer_message_in(
        self,
        connection: Any,
        number: str,
        body: str,
        *,
        by: Actor,
        channel: str | Channel = Channel.WEB,
        message_id: str | None = None,
        in_reply_to: str | None = None,
        attachments: Iterable[AttachmentRef] = (),
    ) -> Posted:
        """``add_customer_message`` on the caller's transaction ``connection`` (it
        commits or rolls back with the caller's work: the email channel keeps the email
        in the same transaction)."""
        request = _customer_message(number, body, by, channel, message_id, in_reply_to, attachments)
        joined = _Joined(connection)
        found = resolve(self._repository(joined), request.number)
        if found is None or not may_write(by, found):
            raise not_found(number)
        calendar = self.calendar(found.customer_number)
        return self._add_customer_message(joined, request, found.number, calendar)

    def _add_customer_message(
        self, uow: Session, request: _MessageRequest, number: str, calendar: BusinessCalendar
    ) -> Posted:
        by = request.by
        now = self._clock.now()
        repository = self._repository(uow)
        case = locked(repository, number)
        outcome = model.reply_reopens(case, now, self.reopen_days)
        if outcome is False:
            follow_up = self._open(
                uow,
                OpenRequest(
                    by=by,
                    customer_number=case.customer_number,
                    subject=case.subject,
                    description=request.text or "(attachments)",
                    channel=request.channel,
                    priority=case.priority,
                    department=case.department,
                    contact=case.contact,
                    links=(*case.links, Link(LinkKind.CASE, case.number)),
                    message_id=request.message_id,
                    attachments=request.attachments,
                ),
                calendar,
            )
            self._history(repository, follow_up, by, now, "follow-up", case.number)
            messages = repository.messages(follow_up.id)
            return Posted(follow_up, messages[-1], follow_up=True)
        if outcome is True:
            case = _reopened(case, now, calendar, self.targets)
            self._history(repository, case, by, now, "reopened", "")
        elif case.status is Status.WAITING:
            case = _resumed(case, now, calendar, self.targets, Status.OPEN)
            self._history(repository, case, by, now, "status", Status.OPEN.value)
        case = attrs.evolve(case, updated_at=now)
        repository.update(case)
        message = self._post(
            uow,
            repository,
            case,
            _thread_message(
                case,
                MessageKind.CUSTOMER,
                by,
                request.text,
                now,
                request.message_id,
                request.in_reply_to,
                request.attachments,
            ),
        )
        self._history(repository, case, by, now, "message", "")
        return Posted(case, message)

    def reply(
        self,
        number: str,
        body: str,
        *,
        by: Actor,
        status: str | None = None,
        message_id: str | None = None,
        in_reply_to: str | None = None,
        attachments: Iterable[AttachmentRef] = (),
    ) -> Message:
        """An agent's reply to the customer: the first one stops the first-response
        clock. A new case becomes open; ``status`` (``waiting_on_customer``,
        ``resolved``...) moves it in the same step."""
        staff_only(by)
        clean = case_number(number)
        text = model.parse_body(body)
        refs = tuple(_check_attachment(a) for a in attachments)
        wanted = None if status in (None, "") else model.parse_status(status)
        clean_id = model.parse_message_id(message_id)
        clean_reply = model.parse_message_id(in_reply_to)
        now = self._clock.now()
        found = self._found(clean)
        calendar = self.calendar(found.customer_number)

        def work(uow: Session) -> Message:
            repository = self._repository(uow)
            case = locked(repository, found.number)
            if not case.active and case.status is not Status.RESOLVED:
                raise ValidationError(
                    f"case {case.number} is {case.status.value}", code="case_closed"
                )
            if case.first_response_at is None:
                # the next deadline is now the resolution's: its own warning will come
                case = attrs.evolve(case, first_response_at=now, warned_at=None)
            target = wanted or (Status.OPEN if case.status is Status.NEW else None)
            if target is not None and target is not case.status:
                case = self._moved(repository, case, target, by, now, calendar)
            case = attrs.evolve(case, updated_at=now)
            repository.update(case)
            message = self._post(
                uow,
                repository,
                case,
                _thread_message(
                    case, MessageKind.AGENT, by, text, now, clean_id, clean_reply, refs
                ),
            )
            self._history(repository, case, by, now, "reply", "")
            uow.commit()
            return message

        return self._db.run(work)

    def add_note(
        self, number: str, body: str, *, by: Actor, attachments: Iterable[AttachmentRef] = ()
    ) -> Message:
        """An internal note: staff see it, the customer never does."""
        staff_only(by)
        clean = case_number(number)
        text = model.parse_body(body)
        refs = tuple(_check_attachment(a) for a in attachments)
        now = self._clock.now()
        found = self._found(clean)

        def work(uow: Session) -> Message:
            repository = self._repository(uow)
            case = locked(repository, found.number)
            message = self._post(
                uow,
                repository,
                case,
                Message(
                    id=0,
                    case_id=case.id,
                    kind=MessageKind.NOTE,
                    author=by,
                    body=text,
                    created_at=now,
                    attachments=refs,
                ),
            )
            self._history(repository, case, by, now, "note", "")
            uow.commit()
            return message

        return self._db.run(work)

    # ------------------------------------------------------- status, people

    def assign(self, number: str, assignee_id: int | None, *, by: Actor) -> Case:
        """Give the case to the staff member ``assignee_id`` (None: back to the queue):
        someone who works cases (``assignee_not_case_worker``), available
        (``assignee_unavailable``: away staff only take a case themselves) and on the
        case's department's desk (``assignee_wrong_department``; a supervisor and the
        account's manager serve every desk). Staff on no desk serve them all."""
        staff_only(by)
        if assignee_id is not None and (
            isinstance(assignee_id, bool) or not isinstance(assignee_id, int) or assignee_id < 1
        ):
            raise ValidationError("an assignee is a staff user's id", code="invalid_assignee")
        member = None if assignee_id is None else self.staff_member(assignee_id)
        clean = case_number(number)
        now = self._clock.now()
        found = self._found(clean)

        def work(uow: Session) -> Case:
            repository = self._repository(uow)
            case = locked(repository, found.number)
            if case.assignee_id == assignee_id:
                return case
            if member is not None:
                profile = (
                    None
                    if case.customer_number is None
                    else repository.profile(case.customer_number)
                )
                refused = model.assignment_refusal(
                    member,
                    repository.agent(member.id),
                    case,
                    manager_id=None if profile is None else profile.account_manager_id,
                    taking=by.id == str(member.id),
                )
                if refused is not None:
                    raise refused
            case = attrs.evolve(case, assignee_id=assignee_id, updated_at=now)
            repository.update(case)
            self._history(
                repository,
                case,
                by,
                now,
                "assigned",
                "" if assignee_id is None else str(assignee_id),
            )
            uow.commit()
            return case

        return self._db.run(work)

    def take(self, number: str, *, by: Actor) -> Case:
        """The agent takes the case (it is assigned to them)."""
        staff_only(by)
        return self.assign(number, int(by.id), by=by)

    def set_status(self, number: str, status: str, *, by: Actor, reason: str = "") -> Case:
        """Move the case along its transitions (staff). Escalating needs a reason and
        is ``escalate`` (the supervisors are told, the hook fires)."""
        staff_only(by)
        target = model.parse_status(status)
        if target is Status.ESCALATED:
            return self.escalate(number, reason, by=by)
        clean = case_number(number)
        why = model.parse_reason(reason) if reason else ""
        now = self._clock.now()
        found = self._found(clean)
        calendar = self.calendar(found.customer_number)

        def work(uow: Session) -> Case:
            repository = self._repository(uow)
            case = locked(repository, found.number)
            if target is case.status:
                return case
            case = self._moved(repository, case, target, by, now, calendar, why)
            repository.update(case)
            uow.commit()
            return case

        return self._db.run(work)

    def set_priority(self, number: str, priority: str, *, by: Actor) -> Case:
        """Change the priority (staff); the deadlines follow the new targets."""
        staff_only(by)
        clean = case_number(number)
        wanted = model.parse_priority(priority)
        now = self._clock.now()
        found = self._found(clean)
        calendar = self.calendar(found.customer_number)

        def work(uow: Session) -> Case:
            repository = self._repository(uow)
            case = locked(repository, found.number)
            if case.priority is wanted:
                return case
            case = _with_deadlines(
                attrs.evolve(case, priority=wanted, updated_at=now), calendar, self.targets
            )
            repository.update(case)
            self._history(repository, case, by, now, "priority", wanted.value)
            uow.commit()
            return case

        return self._db.run(work)

    def close(self, number: str, *, by: Actor) -> Case:
        """Close the case: staff any, a customer their own."""
        clean = case_number(number)
        now = self._clock.now()
        if by.kind is ActorKind.CUSTOMER:
            found = self.find(clean)
            if found is None or found.customer_number != by.account:
                raise not_found(number)
        else:
            staff_only(by)
            found = self._found(clean)
        calendar = self.calendar(found.customer_number)

        def work(uow: Session) -> Case:
            repository = self._repository(uow)
            case = locked(repository, found.number)
            if case.status is Status.CLOSED:
                return case
            case = self._moved(repository, case, Status.CLOSED, by, now, calendar)
            repository.update(case)
            uow.commit()
            return case

        return self._db.run(work)

    # -------------------------------------------------------------- helpers

    def _found(self, number: str) -> Case:
        found = self.find(number)
        if found is None:
            raise not_found(number)
        return found

    def _moved(
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
        model.check_transition(case, target)
        if case.status is Status.WAITING:
            case = _resumed(case, now, calendar, self.targets, target)
        elif case.status is Status.RESOLVED and target is Status.OPEN:
            case = _reopened(case, now, calendar, self.targets)
        case = attrs.evolve(case, status=target, updated_at=now)
        if target is Status.WAITING:
            case = attrs.evolve(case, waiting_since=now)
        elif target is Status.RESOLVED:
            case = attrs.evolve(case, resolved_at=now)
        elif target is Status.CLOSED:
            case = attrs.evolve(case, closed_at=now, resolved_at=case.resolved_at or now)
        elif target is Status.ESCALATED:
            case = attrs.evolve(case, escalated_at=now, escalation_reason=reason)
        action = "closed" if target is Status.CLOSED else "status"
        detail = target.value if not reason else f"{target.value}: {reason}"
        self._history(repository, case, by, now, action, detail)
        return case

    def _post(
        self,
        uow: Session,
        repository: CaseRepository,
        case: Case,
        message: Message,
        history: Sequence[HistoryEntry] = (),
    ) -> Message:
        """Store ``message`` (with the ``history`` entries that go with it, in one
        statement where the store can) and tell the listeners."""
        stored = repository.add_message(message, history)
        for listener in self._listeners:
            listener(uow, case, stored)
        return stored

    @staticmethod
    def _history(
        repository: CaseRepository,
        case: Case,
        by: Actor,
        at: datetime,
        action: str,
        detail: str,
    ) -> None:
        repository.add_history(HistoryEntry(case.id, at, by.label, action, detail))


def _calendar_of(account: CustomerAccount, profile: AccountProfile | None) -> BusinessCalendar:
    """The account's working calendar: its time zone (default by country), its
    country's and subdivision's holidays."""
    zone = profile.time_zone if profile and profile.time_zone else None
    return calendar_for(
        zone or default_time_zone(account.country),
        account.country,
        profile.subdivision if profile else None,
    )


class _Router:
    """Who gets each new case of a batch opened at once: the account's manager when
    they are available (or not on the desk's roster at all), else the least-loaded
    available agent of the department; None leaves it in the department's queue. The
    desk's agents, each account's profile and each agent's load are read once a batch;
    a case assigned counts in its agent's load for the cases after it."""

    def __init__(self, repository: CaseRepository) -> None:
        self._repository = repository
        self._profiles: dict[str, AccountProfile | None] = {}
        self._desks: dict[model.Department, builtins.list[model.Agent]] = {}
        self._roster: dict[int, model.Agent] | None = None
        #: each agent's active cases as stored, and the batch's assigned so far
        self._stored: dict[int, int] = {}
        self._assigned: dict[int, int] = {}

    def route(self, customer_number: str | None, department: model.Department) -> int | None:
        chosen = self._choose(customer_number, department)
        if chosen is not None:
            self._assigned[chosen] = self._assigned.get(chosen, 0) + 1
        return chosen

    def _choose(self, customer_number: str | None, department: model.Department) -> int | None:
        if customer_number is not None:
            if customer_number not in self._profiles:
                self._profiles[customer_number] = self._repository.profile(customer_number)
            profile = self._profiles[customer_number]
            if profile is not None and profile.account_manager_id is not None:
                if self._roster is None:
                    self._roster = {a.user_id: a for a in self._repository.agents()}
                manager = self._roster.get(profile.account_manager_id)
                if manager is None or manager.available:
                    return profile.account_manager_id
        if department not in self._desks:
            self._desks[department] = self._repository.agents(department)
        agents = self._desks[department]
        unknown = [a.user_id for a in agents if a.user_id not in self._stored]
        if unknown:
            self._stored.update(self._repository.open_load(unknown))
        load = {
            a.user_id: self._stored.get(a.user_id, 0) + self._assigned.get(a.user_id, 0)
            for a in agents
        }
        chosen = model.least_loaded(agents, load)
        return None if chosen is None else chosen.user_id


@attrs.frozen
class _Joined:
    """The caller's transaction as a session: the caller commits it."""

    connection: Any

    def commit(self) -> None:
        raise AssertionError("the caller's transaction is the caller's to commit")


class _Steps:
    """``steps.CaseSteps`` over the service: the one place its desks reach its store,
    ports and steps."""

    def __init__(self, service: CasesService) -> None:
        self._s = service
        self.db = service._db
        self.clock = service._clock
        self.accounts = service._accounts
        self.staff = service._staff
        self.mail = service._mail
        self.links = service._links
        self.find = service.find
        self.found = service._found
        self.calendar = service.calendar
        self.staff_member = service.staff_member
        self.open = service.open
        self.request = service._request
        self.open_request = service._open
        self.moved = service._moved
        self.post = service._post
        self.history = service._history
        self.queue = service._queue

    @property
    def targets(self) -> SlaTargets:
        return self._s.targets  # a setting staff may change: read when used

    def repository(self, session: Session) -> CaseRepository:
        return self._s._repository(session)

    def escalated(self, case: Case) -> None:
        for listener in self._s._escalation_listeners:
            listener(case)


@attrs.frozen
class OpenRequest:
    """A case to open, its fields checked (``CasesService.open``'s arguments)."""

    by: Actor
    customer_number: str | None
    subject: str
    description: str
    channel: Channel
    priority: Priority
    department: model.Department
    contact: Contact
    links: tuple[Link, ...]
    message_id: str | None
    attachments: tuple[AttachmentRef, ...]


@attrs.frozen
class _MessageRequest:
    """A customer's message, checked before any transaction."""

    number: str
    text: str
    by: Actor
    channel: Channel
    message_id: str | None
    in_reply_to: str | None
    attachments: tuple[AttachmentRef, ...]


def _customer_message(
    number: str,
    body: str,
    by: Actor,
    channel: str | Channel,
    message_id: str | None,
    in_reply_to: str | None,
    attachments: Iterable[AttachmentRef],
) -> _MessageRequest:
    if by.kind not in (ActorKind.CUSTOMER, ActorKind.CONTACT):
        raise PermissionDenied("only the customer writes as the customer", code="not_customer")
    clean = case_number(number)
    attached = tuple(attachments)
    text = model.parse_body(body, required=not attached)
    refs = tuple(_check_attachment(a) for a in attached)
    return _MessageRequest(
        number=clean,
        text=text,
        by=by,
        channel=model.parse_channel(channel),
        message_id=model.parse_message_id(message_id),
        in_reply_to=model.parse_message_id(in_reply_to),
        attachments=refs,
    )


def _thread_message(
    case: Case,
    kind: MessageKind,
    by: Actor,
    text: str,
    now: datetime,
    message_id: str | None,
    in_reply_to: str | None,
    attachments: tuple[AttachmentRef, ...],
) -> Message:
    """A customer's message or an agent's reply on ``case``, with a Message-Id of its
    own when it came with none (email threading finds the case by it)."""
    return Message(
        id=0,
        case_id=case.id,
        kind=kind,
        author=by,
        body=text,
        created_at=now,
        message_id=message_id or new_message_id(case.number),
        in_reply_to=in_reply_to,
        attachments=attachments,
    )


def new_message_id(number: str) -> str:
    """A Message-Id for a message of case ``number``, unique and naming the case."""
    return f"<{uuid.uuid4().hex}.{number}@cases.postroom>"


def _with_deadlines(case: Case, calendar: BusinessCalendar, targets: SlaTargets) -> Case:
    """The deadlines recomputed; a first response already given keeps its deadline."""
    due = sla.deadlines(case, calendar, targets)
    first = due.first_response_due if case.first_response_at is None else case.first_response_due
    # new deadlines: the assignee is warned again before them
    return attrs.evolve(
        case, first_response_due=first, resolution_due=due.resolution_due, warned_at=None
    )


def _resumed(
    case: Case, now: datetime, calendar: BusinessCalendar, targets: SlaTargets, to: Status
) -> Case:
    """The wait is over: its business time is added to the pause, the deadlines move."""
    paused = case.paused_seconds + sla.current_wait(case, calendar, now)
    resumed = attrs.evolve(case, paused_seconds=paused, waiting_since=None, status=to)
    return _with_deadlines(resumed, calendar, targets)


def _reopened(case: Case, now: datetime, calendar: BusinessCalendar, targets: SlaTargets) -> Case:
    """A resolved case opens again: the time it stood resolved does not count."""
    paused = case.paused_seconds
    if case.resolved_at is not None:
        paused += calendar.between(case.resolved_at, now)
    reopened = attrs.evolve(
        case, status=Status.OPEN, resolved_at=None, paused_seconds=paused, updated_at=now
    )
    return _with_deadlines(reopened, calendar, targets)


def _check_link(link: object) -> Link:
    if not isinstance(link, Link):
        raise ValidationError("a link is a Link", code="invalid_link")
    return model.parse_link(link.kind.value, link.reference)


def _check_attachment(ref: object) -> AttachmentRef:
    if not isinstance(ref, AttachmentRef):
        raise ValidationError("an attachment is a stored AttachmentRef", code="invalid_attachment")
    return ref
