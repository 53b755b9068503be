"""The supervisors' side of support (``pr.cases``): the agents and their departments,
the accounts' support settings (calendar, account manager), escalation by hand and by
the SLA watch, the priority queue, merging duplicates, linking a case to an account,
and the reports."""

from __future__ import annotations

import builtins
import statistics
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import attrs

from postroom.core.cases import model, sla
from postroom.core.cases.access import (
    case_number,
    locked,
    not_found,
    resolve,
    staff_only,
    supervisors_only,
)
from postroom.core.cases.calendar import (
    HOUR,
    BusinessCalendar,
    parse_subdivision,
)
from postroom.core.cases.model import (
    AccountProfile,
    Actor,
    Agent,
    Case,
    CaseReport,
    Department,
    Link,
    LinkKind,
    QueueFilter,
    ReportRow,
    StaffMember,
    Status,
)
from postroom.core.cases.ports import Session
from postroom.core.cases.steps import CaseSteps
from postroom.core.cases.store import CaseRepository
from postroom.core.errors import NotFound, ValidationError
from postroom.core.timezones import default_time_zone, parse_time_zone

#: cases the SLA watch takes per run (the next run takes the rest)
WATCH_BATCH = 500
#: the longest period a report covers
MAX_REPORT = timedelta(days=366)


@attrs.frozen
class SlaWatch:
    """What one run of the SLA watch did."""

    warned: tuple[str, ...]
    #: every case past a deadline it was not yet flagged for
    breached: tuple[str, ...]
    #: those of them that were escalated now (the others were escalated already)
    escalated: tuple[str, ...]


class Supervision:
    def __init__(self, steps: CaseSteps, *, warning_minutes: int) -> None:
        self._c = steps
        self.warning = timedelta(minutes=warning_minutes)

    # ---------------------------------------------------------------- people

    def set_agent(
        self,
        user_id: int,
        *,
        departments: Iterable[str | Department],
        available: bool = True,
        by: Actor,
    ) -> Agent:
        """Put a staff member on the desks of ``departments`` (none: off every desk)
        and say whether they take new cases. Supervisors set anyone; a staff member
        sets themselves."""
        staff_only(by)
        if not by.supervises and by.id != str(user_id):
            supervisors_only(by)
        member = self._c.staff_member(user_id)
        if not isinstance(available, bool):
            raise ValidationError("available is true or false", code="invalid_available")
        agent = Agent(
            member.id,
            member.name,
            frozenset(model.parse_department(d) for d in departments),
            available,
        )
        now = self._c.clock.now()

        def work(uow: Session) -> Agent:
            self._c.repository(uow).save_agent(agent, now)
            uow.commit()
            return agent

        return self._c.db.run(work)

    def agents(self, department: str | None = None, *, by: Actor) -> builtins.list[Agent]:
        staff_only(by)
        wanted = None if department in (None, "") else model.parse_department(department)
        return self._c.db.run(lambda uow: self._c.repository(uow).agents(wanted), readonly=True)

    def set_account_profile(
        self,
        customer_number: str,
        *,
        time_zone: str | None = None,
        subdivision: str | None = None,
        account_manager_id: int | None = None,
        by: Actor,
    ) -> AccountProfile:
        """An account's support settings (supervisors): its time zone (None: the
        country's), the state or province whose holidays count, its account manager."""
        supervisors_only(by)
        account = self._c.accounts.get(customer_number)
        profile = AccountProfile(
            customer_number=account.number,
            time_zone=None if time_zone in (None, "") else parse_time_zone(time_zone),
            subdivision=parse_subdivision(account.country, subdivision),
            account_manager_id=(
                None if account_manager_id is None else self._c.staff_member(account_manager_id).id
            ),
        )
        now = self._c.clock.now()

        def work(uow: Session) -> AccountProfile:
            self._c.repository(uow).save_profile(profile, now)
            uow.commit()
            return profile

        return self._c.db.run(work)

    def account_profile(self, customer_number: str, *, by: Actor) -> AccountProfile:
        """The account's support settings, the defaults filled in (staff)."""
        staff_only(by)
        account = self._c.accounts.get(customer_number)
        found = self._c.db.run(
            lambda uow: self._c.repository(uow).profile(account.number), readonly=True
        )
        profile = found or AccountProfile(account.number)
        return attrs.evolve(
            profile, time_zone=profile.time_zone or default_time_zone(account.country)
        )

    # ------------------------------------------------------------ escalation

    def escalate(self, number: str, reason: str, *, by: Actor) -> Case:
        """Escalate by hand (staff), with a reason: urgency, a deadline, a recurring
        problem. The case goes to the supervisors' priority queue; the supervisors are
        told and the ``case_escalated`` hook fires."""
        staff_only(by)
        clean = case_number(number)
        why = model.parse_reason(reason)
        now = self._c.clock.now()
        found = self._c.found(clean)
        calendar = self._c.calendar(found.customer_number)

        def work(uow: Session) -> Case:
            repository = self._c.repository(uow)
            case = locked(repository, found.number)
            if case.status is Status.ESCALATED:
                raise ValidationError(f"case {case.number} is escalated already", code="escalated")
            case = self._c.moved(repository, case, Status.ESCALATED, by, now, calendar, why)
            repository.update(case)
            self._tell_supervisors(uow, case, why)
            uow.commit()
            return case

        case = self._c.db.run(work)
        self._escalated(case)
        return case

    def priority_queue(self, *, by: Actor, limit: int = 50, offset: int = 0) -> builtins.list[Case]:
        """The supervisors' queue: escalated cases, the most urgent first, then by
        deadline."""
        supervisors_only(by)
        clean_limit, clean_offset = model.check_limit(limit, offset)
        return self._c.queue(
            QueueFilter(
                statuses=(Status.ESCALATED,),
                by_priority=True,
                limit=clean_limit,
                offset=clean_offset,
            )
        )

    def watch_slas(self) -> SlaWatch:
        """The worker's job: warn each assignee whose case comes within the warning
        time of a deadline (business time, once per case), and flag each case past a
        deadline (once per deadline): the supervisors are told, and a case not yet
        escalated is escalated (the ``case_escalated`` hook fires for those). Running
        it twice changes nothing."""
        now = self._c.clock.now()
        # business time runs no faster than the wall clock: a case due within the
        # warning in business time is due within it plus the longest closed stretch
        horizon = now + self.warning + timedelta(days=6)
        warned: builtins.list[str] = []
        breached: builtins.list[str] = []
        escalated: builtins.list[Case] = []
        directory = {member.id: member for member in self._c.staff.staff()}
        calendars: dict[str | None, BusinessCalendar] = {}

        def calendar_of(case: Case) -> BusinessCalendar:
            # one look-up per account and run, not per case
            if case.customer_number not in calendars:
                calendars[case.customer_number] = self._c.calendar(case.customer_number)
            return calendars[case.customer_number]

        def work(uow: Session) -> None:
            repository = self._c.repository(uow)
            for candidate in repository.to_escalate(now, limit=WATCH_BATCH):
                case = locked(repository, candidate.number)
                due = model.breach_due(case, now)
                if due is None:
                    continue
                breached.append(case.number)
                was_escalated = case.status is Status.ESCALATED
                case = self._breached(uow, repository, case, due, now, calendar_of(case))
                if not was_escalated:
                    escalated.append(case)
            for candidate in repository.to_warn(horizon, limit=WATCH_BATCH):
                case = locked(repository, candidate.number)
                if self._warn(uow, repository, case, now, directory, calendar_of(case)):
                    warned.append(case.number)
            uow.commit()

        self._c.db.run(work)
        for case in escalated:
            self._escalated(case)
        return SlaWatch(tuple(warned), tuple(breached), tuple(c.number for c in escalated))

    def _breached(
        self,
        uow: Session,
        repository: CaseRepository,
        case: Case,
        due: datetime,
        now: datetime,
        calendar: BusinessCalendar,
    ) -> Case:
        which = (
            "first response"
            if case.first_response_at is None and case.first_response_due == due
            else "resolution"
        )
        reason = f"SLA breached: {which} was due {due.isoformat()}"
        system = Actor.system()
        if case.status is Status.ESCALATED:
            case = attrs.evolve(case, breached_at=now, escalation_reason=reason, updated_at=now)
            self._c.history(repository, case, system, now, "breached", reason)
        else:
            case = self._c.moved(repository, case, Status.ESCALATED, system, now, calendar, reason)
            case = attrs.evolve(case, breached_at=now)
        repository.update(case)
        self._tell_supervisors(uow, case, reason)
        return case

    def _warn(
        self,
        uow: Session,
        repository: CaseRepository,
        case: Case,
        now: datetime,
        directory: dict[int, StaffMember],
        calendar: BusinessCalendar,
    ) -> bool:
        due = case.next_due
        if due is None or due <= now or case.warned_at is not None or case.assignee_id is None:
            return False
        if calendar.between(now, due) > self.warning.total_seconds():
            return False
        assignee = directory.get(case.assignee_id)
        if assignee is not None:
            self._c.mail.send(
                uow.connection,
                assignee.email,
                f"[{case.number}] due {due.isoformat(timespec='minutes')}: {case.subject}",
                f"Case {case.number} ({case.priority.value}, {case.department.value}) reaches "
                f"its SLA deadline at {due.isoformat(timespec='minutes')} UTC.\n\n"
                f"Subject: {case.subject}\n",
                "case.sla-warning",
                {"case": case.number, "due": due.isoformat()},
            )
        case = attrs.evolve(case, warned_at=now)
        repository.update(case)
        self._c.history(repository, case, Actor.system(), now, "warned", str(case.assignee_id))
        return True

    def _tell_supervisors(self, uow: Session, case: Case, reason: str) -> None:
        for member in self._c.staff.staff():
            if member.role in model.SUPERVISING_ROLES:
                self._c.mail.send(
                    uow.connection,
                    member.email,
                    f"[{case.number}] escalated: {case.subject}",
                    f"Case {case.number} ({case.priority.value}, {case.department.value}) "
                    f"was escalated: {reason}\n",
                    "case.escalated",
                    {"case": case.number, "reason": reason},
                )

    def _escalated(self, case: Case) -> None:
        self._c.escalated(case)

    # ------------------------------------------------------- merge and links

    def merge(self, duplicate: str, into: str, *, by: Actor) -> Case:
        """Merge the ``duplicate`` case into ``into`` (staff): its thread and links
        join the survivor's, it closes, and its number resolves to the survivor."""
        staff_only(by)
        first, second = case_number(duplicate), case_number(into)
        now = self._c.clock.now()
        found = self._c.found(first)

        def work(uow: Session) -> Case:
            repository = self._c.repository(uow)
            target = resolve(repository, second)
            if target is None:
                raise not_found(into)
            # lock in number order: two opposite merges cannot deadlock
            ordered = sorted({found.number, target.number})
            cases = {n: locked(repository, n) for n in ordered}
            dup, survivor = cases[found.number], cases[target.number]
            model.merge_check(dup, survivor)
            moved = repository.move_messages(dup.id, survivor.id)
            for link in (*dup.links, Link(LinkKind.CASE, dup.number)):
                repository.add_link(survivor.id, link)
            if survivor.customer_number is None and dup.customer_number is not None:
                survivor = attrs.evolve(survivor, customer_number=dup.customer_number)
            survivor = attrs.evolve(survivor, updated_at=now)
            repository.update(survivor)
            dup = attrs.evolve(
                dup,
                status=Status.CLOSED,
                closed_at=now,
                resolved_at=dup.resolved_at or now,
                waiting_since=None,
                merged_into=survivor.number,
                updated_at=now,
            )
            repository.update(dup)
            self._c.history(repository, dup, by, now, "merged", f"into {survivor.number}")
            detail = f"{dup.number} ({moved} messages)"
            self._c.history(repository, survivor, by, now, "merged", detail)
            uow.commit()
            merged = repository.get(survivor.number)
            assert merged is not None
            return merged

        return self._c.db.run(work)

    def link_account(self, number: str, customer_number: str, *, by: Actor) -> Case:
        """Give a case opened by an unknown contact its customer account (staff)."""
        staff_only(by)
        account = self._c.accounts.get(customer_number)
        return self._change(
            number,
            by,
            lambda case: attrs.evolve(case, customer_number=account.number),
            "account",
            account.number,
            unless=lambda case: case.customer_number == account.number,
        )

    def add_link(self, number: str, link: Link, *, by: Actor) -> Case:
        """Link the case to a meter, invoice, order, shipment or another case (staff)."""
        staff_only(by)
        if not isinstance(link, Link):
            raise ValidationError("a link is a Link", code="invalid_link")
        clean = model.parse_link(link.kind.value, link.reference)
        clean_number = case_number(number)
        now = self._c.clock.now()
        found = self._c.found(clean_number)

        def work(uow: Session) -> Case:
            repository = self._c.repository(uow)
            case = locked(repository, found.number)
            if not self._may_link(repository, case, clean):
                # as for an object that does not exist: another account's is not told apart
                raise NotFound(
                    f"no {clean.kind.value} {clean.reference} of this case's account",
                    code="link_not_found",
                )
            if repository.add_link(case.id, clean):
                self._c.history(
                    repository, case, by, now, "linked", f"{clean.kind.value} {clean.reference}"
                )
                uow.commit()
            linked = repository.get(case.number)
            assert linked is not None
            return linked

        return self._c.db.run(work)

    def _may_link(self, repository: CaseRepository, case: Case, link: Link) -> bool:
        """Whether ``link``'s object exists and is the case's account's."""
        if link.kind is LinkKind.CASE:
            target = resolve(repository, link.reference)
            return target is not None and model.linkable_case(case, target)
        if case.customer_number is None:
            return False  # a case of an unknown contact links an account's objects once linked
        return self._c.links.belongs(case.customer_number, link)

    def _change(
        self,
        number: str,
        by: Actor,
        change: Callable[[Case], Case],
        action: str,
        detail: str,
        *,
        unless: Callable[[Case], bool],
    ) -> Case:
        clean = case_number(number)
        now = self._c.clock.now()
        found = self._c.found(clean)

        def work(uow: Session) -> Case:
            repository = self._c.repository(uow)
            case = locked(repository, found.number)
            if unless(case):
                return case
            case = attrs.evolve(change(case), updated_at=now)
            repository.update(case)
            self._c.history(repository, case, by, now, action, detail)
            uow.commit()
            return case

        return self._c.db.run(work)

    # --------------------------------------------------------------- reports

    def report(self, since: datetime, until: datetime, *, by: Actor) -> CaseReport:
        """Volume by channel and department, mean first-response and resolution times
        in business hours, SLA attainment and backlog, for cases opened in
        [since, until) (staff)."""
        staff_only(by)
        if not isinstance(since, datetime) or not isinstance(until, datetime):
            raise ValidationError("a report covers two moments", code="invalid_period")
        if since.tzinfo is None or until.tzinfo is None or not since < until:
            raise ValidationError(
                "a report runs from one moment to a later one", code="invalid_period"
            )
        if until - since > MAX_REPORT:
            raise ValidationError("a report covers at most a year", code="invalid_period")
        now = self._c.clock.now()
        rows = self._c.db.run(
            lambda uow: self._c.repository(uow).report_rows(since, until), readonly=True
        )
        calendars = {n: self._c.calendar(n) for n in {c.customer_number for c in rows}}

        def line(key: str, cases: builtins.list[Case]) -> ReportRow:
            return _report_row(key, cases, calendars, self._c.targets, now)

        channels = sorted({c.channel.value for c in rows})
        departments = sorted({c.department.value for c in rows})
        return CaseReport(
            since=since,
            until=until,
            by_channel=tuple(line(k, [c for c in rows if c.channel.value == k]) for k in channels),
            by_department=tuple(
                line(k, [c for c in rows if c.department.value == k]) for k in departments
            ),
            total=line("all", rows),
        )


def _report_row(
    key: str,
    cases: builtins.list[Case],
    calendars: dict[str | None, BusinessCalendar],
    targets: model.SlaTargets,
    now: datetime,
) -> ReportRow:
    first: builtins.list[float] = []
    resolution: builtins.list[float] = []
    met = due = 0
    backlog_ages: builtins.list[float] = []
    for case in cases:
        calendar = calendars[case.customer_number]
        view = sla.view(case, calendar, targets, now)
        if case.first_response_at is not None:
            first.append(calendar.between(case.opened_at, case.first_response_at) / HOUR)
        if view.resolved_at is not None:
            resolution.append(calendar.between(case.opened_at, view.resolved_at) / HOUR)
        for breached, deadline, done in (
            (view.first_response_breached, view.first_response_due, case.first_response_at),
            (view.resolution_breached, view.resolution_due, view.resolved_at),
        ):
            if done is not None or deadline <= now:
                due += 1
                met += not breached
        if case.active:
            backlog_ages.append((now - case.opened_at).total_seconds() / 86400)
    return ReportRow(
        key=key,
        opened=len(cases),
        resolved=len(resolution),
        first_response_hours=round(statistics.fmean(first), 2) if first else None,
        resolution_hours=round(statistics.fmean(resolution), 2) if resolution else None,
        sla_attainment=round(met / due, 4) if due else None,
        backlog=len(backlog_ages),
        oldest_backlog_days=round(max(backlog_ages), 2) if backlog_ages else None,
    )
