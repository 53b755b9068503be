"""Support cases: values, entities and pure rules, no I/O.

A case is one customer's contact with support under a readable number
``C-YYYY-NNNNNN`` (gap-free per year; the store allocates it). It has a department, the
channel it came by, a priority and a status that moves along ``TRANSITIONS``; a thread
of messages (the customer's, the agents' replies, and internal notes customers never
see), links to the meter, invoice, order or shipment it is about, and a history of
every change (who, when, what). The SLA deadlines are business-time targets
(``core/cases/calendar.py``) that stand still while the case waits on the customer.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum

import attrs

from postroom.core.errors import ValidationError
from postroom.core.text import check_no_control

MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_NAME = 200
MAX_REASON = 500
MAX_LINK_REFERENCE = 64
MAX_MESSAGE_ID = 250
#: A customer's reply this many days after a case was resolved reopens it; later, it
#: opens a follow-up case that links the old one (a setting: ``case_reopen_days``).
DEFAULT_REOPEN_DAYS = 7
#: Three or more cases of one account and department in this many days: recurring.
RECURRING_WINDOW = timedelta(days=30)
RECURRING_COUNT = 3

_NUMBER_RE = re.compile(r"C-([0-9]{4})-([0-9]{6})")


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"
    CHAT = "chat"
    SOCIAL = "social"
    MAIL = "mail"
    KIOSK = "kiosk"  # a mailroom terminal's help screen


class Department(StrEnum):
    EQUIPMENT = "equipment"
    SOFTWARE = "software"
    SHIPPING = "shipping"
    BILLING = "billing"
    TRACKING = "tracking"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


#: the most urgent first (the supervisors' queue sorts by it)
PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting_on_customer"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: Where a status may go. A closed case stays closed: the customer's next message
#: opens a follow-up case.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset(
        {Status.OPEN, Status.WAITING, Status.ESCALATED, Status.RESOLVED, Status.CLOSED}
    ),
    Status.OPEN: frozenset({Status.WAITING, Status.ESCALATED, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING: frozenset({Status.OPEN, Status.ESCALATED, Status.RESOLVED, Status.CLOSED}),
    Status.ESCALATED: frozenset({Status.OPEN, Status.WAITING, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

#: statuses in which the case is still someone's work
ACTIVE = frozenset({Status.NEW, Status.OPEN, Status.WAITING, Status.ESCALATED})


class MessageKind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    NOTE = "note"  # internal: never shown to the customer


class LinkKind(StrEnum):
    METER = "meter"
    INVOICE = "invoice"
    ORDER = "order"
    SHIPMENT = "shipment"
    CASE = "case"  # a follow-up's predecessor, a merged duplicate


#: staff roles (the identity area's) that supervise support
SUPERVISING_ROLES = frozenset({"supervisor", "admin"})


class ActorKind(StrEnum):
    CUSTOMER = "customer"  # a portal user or API key of the case's account
    CONTACT = "contact"  # someone known only by an address (an email sender)
    STAFF = "staff"
    SYSTEM = "system"  # the worker's jobs


# ------------------------------------------------------------------ values


@attrs.frozen
class Actor:
    """Who does something to a case. ``id`` is the user's id (staff, portal user) or
    empty; ``account`` the customer's account number for a customer."""

    kind: ActorKind
    id: str = ""
    name: str = ""
    account: str | None = None
    #: a staff member's role (agent, supervisor, account-manager, admin)
    role: str = ""

    @classmethod
    def staff(cls, user_id: int | str, name: str, role: str = "agent") -> Actor:
        return cls(ActorKind.STAFF, str(user_id), name, role=role)

    @classmethod
    def customer(cls, account: str, user_id: int | str = "", name: str = "") -> Actor:
        return cls(ActorKind.CUSTOMER, str(user_id), name, account)

    @classmethod
    def contact(cls, address: str, name: str = "") -> Actor:
        return cls(ActorKind.CONTACT, address, name)

    @classmethod
    def system(cls, name: str = "postroom") -> Actor:
        return cls(ActorKind.SYSTEM, "", name)

    @property
    def is_staff(self) -> bool:
        return self.kind is ActorKind.STAFF

    @property
    def supervises(self) -> bool:
        """Supervisors and admins run the priority queue, the agents and the accounts'
        support settings."""
        return self.is_staff and self.role in SUPERVISING_ROLES

    @property
    def label(self) -> str:
        """How the history names them: ``staff:12 Jane Agent``."""
        who = f"{self.kind.value}:{self.id}" if self.id else self.kind.value
        return f"{who} {self.name}".strip()


@attrs.frozen
class StaffMember:
    """A staff user as the identity area knows them."""

    id: int
    name: str
    email: str
    role: str


@attrs.frozen
class Contact:
    """The person the case is with (the caller, the email sender, the portal user)."""

    name: str = ""
    email: str = ""
    phone: str = ""
    #: a postal address, a social-media handle: whatever the channel gives
    details: str = ""


@attrs.frozen
class AttachmentRef:
    """A stored attachment of a message: the attachment store (``attachments.py``)
    keeps the content under its SHA-256; the case keeps this reference."""

    sha256: str
    filename: str
    content_type: str
    size: int


@attrs.frozen
class Link:
    kind: LinkKind
    reference: str


@attrs.frozen
class SlaTargets:
    """Business hours to the first response and to the resolution, by priority."""

    first_response: dict[Priority, int] = attrs.field(
        factory=lambda: {Priority.URGENT: 2, Priority.HIGH: 4, Priority.NORMAL: 8, Priority.LOW: 16}
    )
    resolution: dict[Priority, int] = attrs.field(
        factory=lambda: {
            Priority.URGENT: 8,
            Priority.HIGH: 16,
            Priority.NORMAL: 40,
            Priority.LOW: 80,
        }
    )


def parse_hours_by_priority(text: object, setting: str) -> dict[Priority, int]:
    """``urgent=2,high=4,normal=8,low=16`` (every priority, whole business hours)."""
    hours: dict[Priority, int] = {}
    for part in str(text).split(","):
        name, _, value = part.partition("=")
        try:
            priority = Priority(name.strip().lower())
            hours[priority] = int(value.strip())
        except ValueError:
            raise ValidationError(
                f"{setting} is like urgent=2,high=4,normal=8,low=16", code="invalid_sla_targets"
            ) from None
        if not 1 <= hours[priority] <= 10_000:
            raise ValidationError(
                f"{setting}: {priority.value} is 1 to 10000 hours", code="invalid_sla_targets"
            )
    if set(hours) != set(Priority):
        raise ValidationError(f"{setting} names every priority", code="invalid_sla_targets")
    return hours


def sla_targets(first_response: object, resolution: object) -> SlaTargets:
    return SlaTargets(
        first_response=parse_hours_by_priority(first_response, "case_first_response_hours"),
        resolution=parse_hours_by_priority(resolution, "case_resolution_hours"),
    )


# ----------------------------------------------------------------- entities


@attrs.define
class Message:
    id: int
    case_id: int
    kind: MessageKind
    author: Actor
    body: str
    created_at: datetime
    #: email threading: this message's Message-Id and the one it answers
    message_id: str | None = None
    in_reply_to: str | None = None
    attachments: tuple[AttachmentRef, ...] = ()

    @property
    def public(self) -> bool:
        """Whether the customer sees it."""
        return self.kind is not MessageKind.NOTE


@attrs.define
class HistoryEntry:
    case_id: int
    at: datetime
    actor: str
    action: str
    detail: str = ""


@attrs.define
class Case:
    id: int
    number: str
    customer_number: str | None
    contact: Contact
    department: Department
    channel: Channel
    subject: str
    description: str
    priority: Priority
    status: Status
    opened_at: datetime
    updated_at: datetime
    assignee_id: int | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    #: since when the case waits on the customer (the SLA clock stands still)
    waiting_since: datetime | None = None
    #: business seconds the clock stood still before ``waiting_since``
    paused_seconds: int = 0
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    escalated_at: datetime | None = None
    escalation_reason: str = ""
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    recurring: bool = False
    #: the case this one was merged into (its number resolves to that one)
    merged_into: str | None = None
    links: tuple[Link, ...] = ()

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def next_due(self) -> datetime | None:
        """The nearest deadline still running: none while waiting on the customer or
        once resolved."""
        if self.status not in ACTIVE or self.waiting_since is not None:
            return None
        if self.first_response_at is None and self.first_response_due is not None:
            return min(self.first_response_due, self.resolution_due or self.first_response_due)
        return self.resolution_due


@attrs.frozen
class CaseDetail:
    """A case with its thread and history, as one viewer may see it."""

    case: Case
    messages: tuple[Message, ...]
    history: tuple[HistoryEntry, ...]


@attrs.frozen
class QueueFilter:
    """The console's filters; ``None`` is "any". Merged duplicates are never listed
    (their number resolves to the survivor)."""

    statuses: tuple[Status, ...] = ()
    department: Department | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    priority: Priority | None = None
    channel: Channel | None = None
    customer_number: str | None = None
    #: the next deadline falls within this long from now
    due_within: timedelta | None = None
    breached: bool = False
    escalated: bool = False
    recurring: bool = False
    #: the most urgent priority first (the supervisors' queue), else the nearest deadline
    by_priority: bool = False
    limit: int = 50
    offset: int = 0


@attrs.frozen
class InstallationMove:
    """A meter moving to a new installation address (the contracts area hands it over):
    what its case says."""

    serial: str
    lines: tuple[str, ...]
    move_on: date

    @property
    def subject(self) -> str:
        return f"Installation address change: meter {self.serial}"

    @property
    def description(self) -> str:
        address = "\n".join(self.lines)
        return (
            f"Please move meter {self.serial} to this installation address on "
            f"{self.move_on.isoformat()}:\n{address}"
        )

    @property
    def link(self) -> Link:
        return Link(LinkKind.METER, self.serial)


# ------------------------------------------------------------------ parsers


def _choice(enum: type[StrEnum], text: object, code: str, what: str) -> str:
    clean = text.strip().lower().replace(" ", "_") if isinstance(text, str) else ""
    known = [member.value for member in enum]
    if clean not in known:
        raise ValidationError(f"{what} is one of {', '.join(known)}", code=code)
    return clean


def parse_channel(text: object) -> Channel:
    return Channel(_choice(Channel, text, "invalid_channel", "a channel"))


def parse_department(text: object) -> Department:
    return Department(_choice(Department, text, "invalid_department", "a department"))


def parse_priority(text: object) -> Priority:
    return Priority(_choice(Priority, text, "invalid_priority", "a priority"))


def parse_status(text: object) -> Status:
    if isinstance(text, str) and text.strip().lower() in ("waiting", "waiting on customer"):
        return Status.WAITING
    return Status(_choice(Status, text, "invalid_status", "a status"))


def parse_link_kind(text: object) -> LinkKind:
    return LinkKind(_choice(LinkKind, text, "invalid_link", "a link"))


def format_case_number(year: int, sequence: int) -> str:
    if not 1 <= sequence <= 999_999:
        raise ValidationError(f"case numbers of {year} are used up", code="case_numbers_exhausted")
    return f"C-{year:04d}-{sequence:06d}"


def parse_case_number(text: object) -> str:
    """``C-2026-000123`` (case and surrounding brackets or spaces forgiven)."""
    clean = text.strip().strip("[]").strip().upper() if isinstance(text, str) else ""
    if not _NUMBER_RE.fullmatch(clean):
        raise ValidationError("a case number looks like C-2026-000123", code="invalid_case_number")
    return clean


def _text(value: object, field: str, *, limit: int, required: bool, multiline: bool) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} is text", code=f"invalid_{field}", field=field)
    clean = value.strip()
    if required and not clean:
        raise ValidationError(f"give the {field}", code=f"missing_{field}", field=field)
    if len(clean) > limit:
        raise ValidationError(
            f"the {field} is at most {limit} characters", code=f"{field}_too_long", field=field
        )
    return check_no_control(clean, field, multiline=multiline)


def parse_subject(value: object) -> str:
    return _text(value, "subject", limit=MAX_SUBJECT, required=True, multiline=False)


def parse_body(value: object, *, required: bool = True) -> str:
    return _text(value, "body", limit=MAX_BODY, required=required, multiline=True)


def parse_reason(value: object) -> str:
    return _text(value, "reason", limit=MAX_REASON, required=True, multiline=False)


def parse_contact(
    name: object = "", email: object = "", phone: object = "", details: object = ""
) -> Contact:
    return Contact(
        name=_text(name, "contact_name", limit=MAX_NAME, required=False, multiline=False),
        email=_text(email, "contact_email", limit=254, required=False, multiline=False).lower(),
        phone=_text(phone, "contact_phone", limit=40, required=False, multiline=False),
        details=_text(details, "contact_details", limit=MAX_REASON, required=False, multiline=True),
    )


def parse_link(kind: object, reference: object) -> Link:
    clean_kind = parse_link_kind(kind)
    ref = _text(reference, "link", limit=MAX_LINK_REFERENCE, required=True, multiline=False)
    if clean_kind is LinkKind.CASE:
        ref = parse_case_number(ref)
    return Link(clean_kind, ref)


def parse_message_id(value: object) -> str | None:
    """An email Message-Id as ``<...>``; None when absent."""
    if value is None or value == "":
        return None
    clean = _text(value, "message_id", limit=MAX_MESSAGE_ID, required=True, multiline=False)
    if " " in clean:
        raise ValidationError("a message id has no spaces", code="invalid_message_id")
    return clean if clean.startswith("<") else f"<{clean}>"


# -------------------------------------------------------------------- rules


def check_transition(case: Case, to: Status) -> None:
    """Refuse a move ``TRANSITIONS`` does not allow (``invalid_transition``)."""
    if to is case.status:
        return
    if to not in TRANSITIONS[case.status]:
        raise ValidationError(
            f"case {case.number} is {case.status.value}: it cannot become {to.value}",
            code="invalid_transition",
        )


def reply_reopens(case: Case, now: datetime, reopen_days: int) -> bool | None:
    """What the customer's new message does to ``case``: True reopens it (resolved, in
    the window), None appends (still active), False opens a follow-up case."""
    if case.status in ACTIVE:
        return None
    return (
        case.status is Status.RESOLVED
        and case.resolved_at is not None
        and now - case.resolved_at <= timedelta(days=reopen_days)
    )


def is_recurring_count(count: int) -> bool:
    """``count`` cases of one account and department within ``RECURRING_WINDOW`` (the
    new one counted) make a recurring problem."""
    return count >= RECURRING_COUNT


def check_limit(limit: object, offset: object = 0, *, most: int = 500) -> tuple[int, int]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise ValidationError(f"limit is 1 to {most}", code="invalid_limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError("offset is 0 or more", code="invalid_offset")
    return limit, offset


# ------------------------------------------------------------- routing, SLAs


@attrs.frozen
class Agent:
    """A staff member who works cases: the departments whose queue they serve and
    whether they take new cases now (away, on leave: not)."""

    user_id: int
    name: str
    departments: frozenset[Department]
    available: bool = True


@attrs.frozen
class AccountProfile:
    """What support keeps about a customer account: its working calendar (an IANA time
    zone, default by country; a state or province whose holidays count) and its
    dedicated account manager (a staff user's id), who gets its cases first."""

    customer_number: str
    time_zone: str | None = None
    subdivision: str | None = None
    account_manager_id: int | None = None


#: staff roles that work cases (an installation's admin administers, it is not a desk)
CASE_WORKER_ROLES = frozenset({"agent", "supervisor", "account-manager"})


def assignment_refusal(
    member: StaffMember,
    desk: Agent | None,
    case: Case,
    *,
    manager_id: int | None,
    taking: bool,
) -> ValidationError | None:
    """Why ``member`` may not get ``case`` (None when they may). ``desk``: their place
    on the desks' roster, None when they are on none (they then serve every
    department, as routing takes it). A supervisor and the account's manager take a
    case of any department; someone away takes a case only themselves (``taking``)."""
    if member.role not in CASE_WORKER_ROLES:
        return ValidationError(
            f"{member.name} ({member.role}) does not work cases", code="assignee_not_case_worker"
        )
    if desk is None:
        return None
    if not desk.available and not taking:
        return ValidationError(f"{member.name} is not available", code="assignee_unavailable")
    serves_any = member.role == "supervisor" or member.id == manager_id
    if desk.departments and case.department not in desk.departments and not serves_any:
        return ValidationError(
            f"{member.name} does not serve the {case.department.value} desk",
            code="assignee_wrong_department",
        )
    return None


def linkable_case(case: Case, target: Case) -> bool:
    """Whether ``target`` may be linked from ``case``: another case of the same account
    (of the same contact, for cases without one)."""
    if target.id == case.id:
        return False
    if case.customer_number is not None or target.customer_number is not None:
        return case.customer_number == target.customer_number
    return bool(case.contact.email) and case.contact.email == target.contact.email


def least_loaded(agents: list[Agent], load: dict[int, int]) -> Agent | None:
    """The available agent with the fewest active cases (ties: the lowest id)."""
    ready = [a for a in agents if a.available]
    if not ready:
        return None
    return min(ready, key=lambda a: (load.get(a.user_id, 0), a.user_id))


def breach_due(case: Case, now: datetime) -> datetime | None:
    """The running deadline ``case`` has passed and was not yet escalated for; None
    when there is none."""
    due = case.next_due
    if due is None or due > now:
        return None
    if case.breached_at is not None and case.breached_at >= due:
        return None
    return due


def merge_check(duplicate: Case, survivor: Case) -> None:
    """A case merges only into another active-or-resolved case of the same account."""
    if duplicate.id == survivor.id:
        raise ValidationError("a case cannot be merged into itself", code="merge_same_case")
    if duplicate.merged_into is not None or survivor.merged_into is not None:
        raise ValidationError("that case was merged already", code="already_merged")
    if (
        duplicate.customer_number is not None
        and survivor.customer_number is not None
        and duplicate.customer_number != survivor.customer_number
    ):
        raise ValidationError(
            "cases of two customer accounts are not merged", code="merge_other_account"
        )
    if survivor.status is Status.CLOSED:
        raise ValidationError(
            f"case {survivor.number} is closed: merge into an open case", code="case_closed"
        )


@attrs.frozen
class ReportRow:
    """One line of a report: a channel or department (or ``all``) over a period."""

    key: str
    opened: int
    resolved: int
    #: mean business hours to the first response and to the resolution (None: none yet)
    first_response_hours: float | None
    resolution_hours: float | None
    #: share of the cases with a due deadline that met it (None: none due yet)
    sla_attainment: float | None
    #: cases still active, and the age in days of the oldest of them
    backlog: int
    oldest_backlog_days: float | None


@attrs.frozen
class CaseReport:
    since: datetime
    until: datetime
    by_channel: tuple[ReportRow, ...]
    by_department: tuple[ReportRow, ...]
    total: ReportRow
