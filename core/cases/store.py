"""Tables and the repository of the support-cases area (SQLAlchemy Core).

``CaseRepository`` is the Protocol the use cases depend on; ``CaseStore`` implements it
on a unit of work's connection (the unit tests use an in-memory fake).

Case numbers come from ``case_counters``, one row per year, incremented in the
transaction that stores the case: the row's lock (PostgreSQL) or the write lock
(SQLite's ``BEGIN IMMEDIATE``) orders concurrent openings, and a rolled-back opening
rolls its increment back with it, so the numbers of a year have no gaps.

The console's queue reads ``cases`` alone, through indexes that end in
``queue_due_at`` (the next running deadline, or a far-future sentinel when none runs)
so that "the next N by deadline" under any common filter is an index range scan.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from postroom.core.cases.claims import Claim, ClaimKind, Document, Outcome
from postroom.core.cases.model import (
    ACTIVE,
    PRIORITY_RANK,
    AccountProfile,
    Actor,
    ActorKind,
    Agent,
    AttachmentRef,
    Case,
    CaseSummary,
    Channel,
    Contact,
    Department,
    HistoryEntry,
    Link,
    LinkKind,
    Message,
    MessageKind,
    Priority,
    QueueFilter,
    Status,
)
from postroom.core.db import UtcDateTime, metadata
from postroom.core.money import Money

#: ``queue_due_at`` of a case whose SLA clock does not run (waiting, resolved, closed)
NO_DEADLINE = datetime(9999, 1, 1, tzinfo=UTC)

case_counters = sa.Table(
    "case_counters",
    metadata,
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last", sa.Integer, nullable=False),
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(16), nullable=False, unique=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=True,
    ),
    sa.Column("contact_name", sa.String(200), nullable=False),
    sa.Column("contact_email", sa.String(254), nullable=False),
    sa.Column("contact_phone", sa.String(40), nullable=False),
    sa.Column("contact_details", sa.String(500), nullable=False),
    sa.Column("department", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("priority", sa.String(8), nullable=False),
    sa.Column("priority_rank", sa.SmallInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("assignee_id", sa.Integer, nullable=True),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("first_response_at", UtcDateTime(), nullable=True),
    sa.Column("resolved_at", UtcDateTime(), nullable=True),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.Column("waiting_since", UtcDateTime(), nullable=True),
    sa.Column("paused_seconds", sa.Integer, nullable=False),
    sa.Column("first_response_due", UtcDateTime(), nullable=True),
    sa.Column("resolution_due", UtcDateTime(), nullable=True),
    sa.Column("queue_due_at", UtcDateTime(), nullable=False),
    sa.Column("escalated_at", UtcDateTime(), nullable=True),
    sa.Column("escalation_reason", sa.String(500), nullable=False),
    sa.Column("warned_at", UtcDateTime(), nullable=True),
    sa.Column("breached_at", UtcDateTime(), nullable=True),
    sa.Column("recurring", sa.Boolean, nullable=False),
    sa.Column("merged_into", sa.String(16), nullable=True),
    # One index per common filter, each ending in the queue's order: the first page under
    # a filter is a range scan. Cases whose clock does not run sort last (NO_DEADLINE),
    # so an active queue finds its rows first without an index on the status as well.
    sa.Index("ix_cases_status_due", "status", "queue_due_at", "id"),
    sa.Index("ix_cases_department_due", "department", "queue_due_at", "id"),
    sa.Index("ix_cases_assignee_due", "assignee_id", "queue_due_at", "id"),
    sa.Index("ix_cases_priority_due", "priority", "queue_due_at", "id"),
    sa.Index("ix_cases_channel_due", "channel", "queue_due_at", "id"),
    sa.Index("ix_cases_customer_due", "customer_number", "queue_due_at", "id"),
    sa.Index("ix_cases_due", "queue_due_at", "id"),
    # the recurring flag: an account's cases of one department in the last 30 days
    sa.Index("ix_cases_customer_department_opened", "customer_number", "department", "opened_at"),
)

case_messages = sa.Table(
    "case_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("author_kind", sa.String(10), nullable=False),
    sa.Column("author_id", sa.String(254), nullable=False),
    sa.Column("author_name", sa.String(200), nullable=False),
    sa.Column("author_account", sa.String(10), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("message_id", sa.String(250), nullable=True),
    sa.Column("in_reply_to", sa.String(250), nullable=True),
    # the stored attachments' references (sha256, filename, type, size), as JSON
    sa.Column("attachments", sa.Text, nullable=False),
    sa.Index("ix_case_messages_case", "case_id", "id"),
    sa.Index("ix_case_messages_message_id", "message_id"),
)

case_links = sa.Table(
    "case_links",
    metadata,
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("reference", sa.String(64), primary_key=True),
    sa.Index("ix_case_links_reference", "kind", "reference"),
)

case_history = sa.Table(
    "case_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(300), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("detail", sa.String(1000), nullable=False),
    sa.Index("ix_case_history_case", "case_id", "id"),
)

case_agents = sa.Table(
    "case_agents",
    metadata,
    # a staff user of the identity area (its id; that area owns the users' table)
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("available", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

case_agent_departments = sa.Table(
    "case_agent_departments",
    metadata,
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("case_agents.user_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("department", sa.String(16), primary_key=True),
)

case_account_profiles = sa.Table(
    "case_account_profiles",
    metadata,
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        primary_key=True,
    ),
    sa.Column("time_zone", sa.String(64), nullable=True),
    sa.Column("subdivision", sa.String(8), nullable=True),
    sa.Column("account_manager_id", sa.Integer, nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

case_claims = sa.Table(
    "case_claims",
    metadata,
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("tracking_number", sa.String(40), nullable=False),
    sa.Column("declared_mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("filed_at", UtcDateTime(), nullable=False),
    sa.Column("deadline", sa.Date, nullable=False),
    sa.Column("outcome", sa.String(12), nullable=False),
    sa.Column("outcome_reason", sa.String(500), nullable=False),
    sa.Column("refunded_mills", sa.BigInteger, nullable=True),
    sa.Column("refund_transfer_id", sa.String(64), nullable=True),
    sa.Column("reshipment", sa.String(64), nullable=False),
    sa.Column("decided_at", UtcDateTime(), nullable=True),
    sa.Column("decided_by", sa.String(300), nullable=False),
)

case_claim_documents = sa.Table(
    "case_claim_documents",
    metadata,
    sa.Column("case_id", sa.Integer, sa.ForeignKey("case_claims.case_id"), primary_key=True),
    sa.Column("document", sa.String(20), primary_key=True),
    # the attachment (its SHA-256) that proves it
    sa.Column("sha256", sa.String(64), nullable=False),
)

#: the supervisors' priority queue: escalated cases, the most urgent first
ix_cases_status_rank_due = sa.Index(
    "ix_cases_status_rank_due", cases.c.status, cases.c.priority_rank, cases.c.queue_due_at
)


# The dashboard's read, on every page view: built once (its cache key too).
_ACTIVE_SUMMARIES = (
    sa.select(cases.c.number, cases.c.subject, cases.c.status)
    .where(
        cases.c.customer_number == sa.bindparam("customer_number"),
        cases.c.merged_into.is_(None),
        cases.c.status.in_(sorted(s.value for s in ACTIVE)),
    )
    .order_by(cases.c.queue_due_at, cases.c.id)
    .limit(sa.bindparam("limit"))
)


class CaseRepository(Protocol):
    """What the case use cases read and write."""

    def next_numbers(self, year: int, count: int = 1) -> int:
        """Take the year's next ``count`` sequence numbers in the caller's transaction;
        the first of them. The year's counter stays locked until the transaction ends
        (numbers without gaps)."""
        ...

    def add(self, case: Case) -> Case:
        """Store a new case with its links (its ``id`` is ignored); returns it with its id."""
        ...

    def get(self, number: str) -> Case | None: ...

    def lock(self, number: str) -> Case | None:
        """The case, its row locked for the rest of the transaction (PostgreSQL)."""
        ...

    def update(self, case: Case) -> None:
        """Write the case's mutable fields (status, deadlines, assignee...)."""
        ...

    def add_link(self, case_id: int, link: Link) -> bool:
        """False when the case had that link already."""
        ...

    def add_message(self, message: Message, history: Sequence[HistoryEntry] = ()) -> Message:
        """Store ``message``, and the ``history`` entries that go with it (in their
        order)."""
        ...

    def add_all_with_messages(
        self, cases: Sequence[Case], posts: Sequence[tuple[Message, Sequence[HistoryEntry]]]
    ) -> tuple[list[Case], list[Message]]:
        """Store new ``cases`` (as ``add`` does), each with its first message and that
        message's history (``posts``, at the case's place; their case ids are filled
        in); in one statement on PostgreSQL (issue 14's inbound email). The cases and
        messages with their ids, in their order."""
        ...

    def messages(self, case_id: int) -> list[Message]: ...

    def move_messages(self, from_case: int, to_case: int) -> int: ...

    def add_history(self, entry: HistoryEntry) -> None: ...

    def history(self, case_id: int) -> list[HistoryEntry]: ...

    def queue(self, query: QueueFilter, now: datetime) -> list[Case]:
        """Cases matching ``query``, the nearest deadline first."""
        ...

    def active_summaries(self, customer_number: str, limit: int) -> list[CaseSummary]:
        """The account's active cases (not merged away), the nearest deadline first."""
        ...

    def case_of_message_ids(self, message_ids: Iterable[str]) -> Case | None:
        """The case holding one of these email Message-Ids (the newest such message's)."""
        ...

    def cases_linked_to(self, kind: LinkKind, reference: str) -> list[Case]: ...

    def opened_since(self, customer_number: str, department: Department, since: datetime) -> int:
        """How many of the account's cases of ``department`` opened at or after ``since``."""
        ...

    def open_load(self, assignee_ids: Iterable[int]) -> dict[int, int]:
        """Active cases assigned to each of ``assignee_ids`` (0 included)."""
        ...

    def due_before(self, moment: datetime, *, limit: int) -> list[Case]:
        """Active cases whose next deadline is before ``moment``, the nearest first."""
        ...

    def to_warn(self, before: datetime, *, limit: int) -> list[Case]:
        """Assigned cases due before ``before`` whose assignee was not warned yet."""
        ...

    def to_escalate(self, now: datetime, *, limit: int) -> list[Case]:
        """Cases past a running deadline they were not escalated for yet."""
        ...

    def agents(self, department: Department | None = None) -> list[Agent]: ...

    def agent(self, user_id: int) -> Agent | None: ...

    def save_agent(self, agent: Agent, at: datetime) -> None: ...

    def profile(self, customer_number: str) -> AccountProfile | None: ...

    def save_profile(self, profile: AccountProfile, at: datetime) -> None: ...

    def claim(self, case_id: int) -> Claim | None: ...

    def save_claim(self, claim: Claim) -> None:
        """Store the claim (new or changed) with its documents."""
        ...

    def report_rows(self, since: datetime, until: datetime) -> list[Case]:
        """Cases opened in [since, until), without links (for the reports)."""
        ...


def _insert(connection: Connection) -> Any:
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


def _case(row: Row[Any], links: tuple[Link, ...] = ()) -> Case:
    m = row._mapping
    return Case(
        id=int(m["id"]),
        number=str(m["number"]),
        customer_number=None if m["customer_number"] is None else str(m["customer_number"]),
        contact=Contact(
            name=str(m["contact_name"]),
            email=str(m["contact_email"]),
            phone=str(m["contact_phone"]),
            details=str(m["contact_details"]),
        ),
        department=Department(m["department"]),
        channel=Channel(m["channel"]),
        subject=str(m["subject"]),
        description=str(m["description"]),
        priority=Priority(m["priority"]),
        status=Status(m["status"]),
        opened_at=m["opened_at"],
        updated_at=m["updated_at"],
        assignee_id=None if m["assignee_id"] is None else int(m["assignee_id"]),
        first_response_at=m["first_response_at"],
        resolved_at=m["resolved_at"],
        closed_at=m["closed_at"],
        waiting_since=m["waiting_since"],
        paused_seconds=int(m["paused_seconds"]),
        first_response_due=m["first_response_due"],
        resolution_due=m["resolution_due"],
        escalated_at=m["escalated_at"],
        escalation_reason=str(m["escalation_reason"]),
        warned_at=m["warned_at"],
        breached_at=m["breached_at"],
        recurring=bool(m["recurring"]),
        merged_into=None if m["merged_into"] is None else str(m["merged_into"]),
        links=links,
    )


def _message_values(message: Message, prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}case_id": message.case_id,
        f"{prefix}kind": message.kind.value,
        f"{prefix}author_kind": message.author.kind.value,
        f"{prefix}author_id": message.author.id,
        f"{prefix}author_name": message.author.name,
        f"{prefix}author_account": message.author.account,
        f"{prefix}body": message.body,
        f"{prefix}created_at": message.created_at,
        f"{prefix}message_id": message.message_id,
        f"{prefix}in_reply_to": message.in_reply_to,
        f"{prefix}attachments": _attachments_column(message.attachments),
    }


def _history_values(entry: HistoryEntry, prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}case_id": entry.case_id,
        f"{prefix}at": entry.at,
        f"{prefix}actor": entry.actor[:300],
        f"{prefix}action": entry.action,
        f"{prefix}detail": entry.detail[:1000],
    }


def _posts_values(
    posts: Sequence[tuple[Message, Sequence[HistoryEntry]]], numbers: Sequence[str] = ()
) -> tuple[dict[str, Any], int]:
    """The bound values of ``posts`` for ``_messages_with_history`` (``m{n}_``, ``h{n}_``)
    and how many history entries they hold; with ``numbers``, each row also names its
    case's number (``_cases_with_messages``)."""
    values: dict[str, Any] = {}
    entries = 0
    for n, (message, history) in enumerate(posts):
        values.update(_message_values(message, f"m{n}_"))
        if numbers:
            values[f"m{n}_number"] = numbers[n]
        for entry in history:
            values.update(_history_values(entry, f"h{entries}_"))
            if numbers:
                values[f"h{entries}_number"] = numbers[n]
            entries += 1
    return values, entries


def case_values(case: Case) -> dict[str, Any]:
    """The row of ``case`` without its id (the bench inserts rows with it too)."""
    return {
        "number": case.number,
        "customer_number": case.customer_number,
        "contact_name": case.contact.name,
        "contact_email": case.contact.email,
        "contact_phone": case.contact.phone,
        "contact_details": case.contact.details,
        "department": case.department.value,
        "channel": case.channel.value,
        "subject": case.subject,
        "description": case.description,
        "priority": case.priority.value,
        "priority_rank": PRIORITY_RANK[case.priority],
        "status": case.status.value,
        "assignee_id": case.assignee_id,
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "first_response_at": case.first_response_at,
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
        "waiting_since": case.waiting_since,
        "paused_seconds": case.paused_seconds,
        "first_response_due": case.first_response_due,
        "resolution_due": case.resolution_due,
        "queue_due_at": case.next_due or NO_DEADLINE,
        "escalated_at": case.escalated_at,
        "escalation_reason": case.escalation_reason,
        "warned_at": case.warned_at,
        "breached_at": case.breached_at,
        "recurring": case.recurring,
        "merged_into": case.merged_into,
    }


def _attachments_column(refs: tuple[AttachmentRef, ...]) -> str:
    return json.dumps(
        [
            {
                "sha256": r.sha256,
                "filename": r.filename,
                "content_type": r.content_type,
                "size": r.size,
            }
            for r in refs
        ]
    )


def _attachments(text: str) -> tuple[AttachmentRef, ...]:
    return tuple(
        AttachmentRef(str(a["sha256"]), str(a["filename"]), str(a["content_type"]), int(a["size"]))
        for a in json.loads(text or "[]")
    )


def _message(row: Row[Any]) -> Message:
    m = row._mapping
    return Message(
        id=int(m["id"]),
        case_id=int(m["case_id"]),
        kind=MessageKind(m["kind"]),
        author=Actor(
            ActorKind(m["author_kind"]),
            str(m["author_id"]),
            str(m["author_name"]),
            None if m["author_account"] is None else str(m["author_account"]),
        ),
        body=str(m["body"]),
        created_at=m["created_at"],
        message_id=m["message_id"],
        in_reply_to=m["in_reply_to"],
        attachments=_attachments(str(m["attachments"])),
    )


# The inserts of every new case, built once: the values come with each execution
# (building a statement with .values() each time cost more than running it).
# They return the new rows' ids only: the rest is what was written (a row of thirty
# columns read back cost more than its insert, issue 14's inbound email).
_ADD_CASE = cases.insert().returning(cases.c.id, cases.c.number)
_ADD_MESSAGE = case_messages.insert().returning(case_messages.c.id, case_messages.c.case_id)
_ADD_HISTORY = case_history.insert()


_HISTORY_COLUMNS = ("case_id", "at", "actor", "action", "detail")
_MESSAGE_COLUMNS = (
    "case_id",
    "kind",
    "author_kind",
    "author_id",
    "author_name",
    "author_account",
    "body",
    "created_at",
    "message_id",
    "in_reply_to",
    "attachments",
)


def _bound(table: sa.Table, columns: Sequence[str], prefix: str, n: int) -> list[Any]:
    """Row ``n``'s bound values for ``table``'s ``columns`` (``{prefix}{n}_{column}``)."""
    return [sa.bindparam(f"{prefix}{n}_{c}", type_=table.c[c].type).label(c) for c in columns]


def _rows(table: sa.Table, columns: Sequence[str], prefix: str, count: int) -> Any:
    """``count`` rows of bound values for ``table``'s ``columns`` (``{prefix}{n}_{column}``)
    as one SELECT: an INSERT ... SELECT of them is a statement SQLAlchemy caches, where
    a multi-row ``.values([...])`` is compiled again at every execution."""
    rows = [sa.select(*_bound(table, columns, prefix, n)) for n in range(count)]
    return rows[0] if count == 1 else sa.union_all(*rows)


@functools.cache
def _messages_with_history(messages: int, entries: int) -> Any:
    """``messages`` new messages and ``entries`` history rows in one statement
    (PostgreSQL), returning the messages."""
    insert = (
        case_messages.insert()
        .from_select(_MESSAGE_COLUMNS, _rows(case_messages, _MESSAGE_COLUMNS, "m", messages))
        .returning(case_messages.c.id, case_messages.c.case_id)
    )
    if not entries:
        return insert
    history = (
        case_history.insert()
        .from_select(_HISTORY_COLUMNS, _rows(case_history, _HISTORY_COLUMNS, "h", entries))
        .cte("added_history")
    )
    return insert.add_cte(history)


#: a new case's columns (``case_values``'s keys)
_CASE_COLUMNS = tuple(c.name for c in cases.c if c.name != "id")


def _of_cases(table: sa.Table, columns: Sequence[str], prefix: str, count: int, added: Any) -> Any:
    """``_rows`` of ``table`` that each name their case by its number
    (``{prefix}{n}_number``), each with the id of that case in ``added`` first; in
    their order (a case's history is read in the order of its ids)."""
    rows = [
        sa.select(
            sa.literal(n, sa.Integer).label("place"),
            *_bound(cases, ["number"], prefix, n),
            *_bound(table, columns, prefix, n),
        )
        for n in range(count)
    ]
    bound = (rows[0] if count == 1 else sa.union_all(*rows)).subquery()
    return (
        sa.select(added.c.id, *[bound.c[c] for c in columns])
        .join_from(bound, added, bound.c.number == added.c.number)
        .order_by(bound.c.place)
    )


@functools.cache
def _cases_with_messages(count: int, entries: int) -> Any:
    """``count`` new cases, each with its first message, and ``entries`` history rows,
    in one statement (PostgreSQL: the cases' ids go to their messages and history in
    the statement itself); each case's id and number, and its message's id."""
    added = (
        cases.insert()
        .from_select(_CASE_COLUMNS, _rows(cases, _CASE_COLUMNS, "c", count))
        .returning(cases.c.id, cases.c.number)
        .cte("added_cases")
    )
    messages = (
        case_messages.insert()
        .from_select(
            _MESSAGE_COLUMNS,  # the case's id first, from the case added
            _of_cases(case_messages, _MESSAGE_COLUMNS[1:], "m", count, added),
        )
        .returning(case_messages.c.id, case_messages.c.case_id)
        .cte("added_messages")
    )
    statement = sa.select(added.c.id, added.c.number, messages.c.id.label("message_id")).join_from(
        added, messages, messages.c.case_id == added.c.id
    )
    if entries:
        history = (
            case_history.insert()
            .from_select(
                _HISTORY_COLUMNS, _of_cases(case_history, _HISTORY_COLUMNS[1:], "h", entries, added)
            )
            .cte("added_history")
        )
        statement = statement.add_cte(history)
    return statement


def with_case_ids(
    added: Sequence[Case], posts: Sequence[tuple[Message, Sequence[HistoryEntry]]]
) -> list[tuple[Message, list[HistoryEntry]]]:
    """``posts`` (each the first message of the case in ``added`` at its place, and its
    history) with the ids of their cases."""
    return [
        (
            attrs.evolve(message, case_id=case.id),
            [attrs.evolve(entry, case_id=case.id) for entry in history],
        )
        for case, (message, history) in zip(added, posts, strict=True)
    ]


_NEXT_NUMBERS = (
    case_counters.update()
    .where(case_counters.c.year == sa.bindparam("b_year"))
    .values(last=case_counters.c.last + sa.bindparam("b_count"))
    .returning(case_counters.c.last)
)


# routing reads the desk's agents for every new case
_AGENTS = sa.select(case_agents).order_by(case_agents.c.user_id)
_DESK_AGENTS = _AGENTS.where(
    case_agents.c.user_id.in_(
        sa.select(case_agent_departments.c.user_id).where(
            case_agent_departments.c.department == sa.bindparam("department")
        )
    )
)


class CaseStore:
    """``CaseRepository`` on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def next_numbers(self, year: int, count: int = 1) -> int:
        t = case_counters
        values = {"b_year": year, "b_count": count}
        taken = self._c.execute(_NEXT_NUMBERS, values).scalar()
        if taken is None:
            # the first case of a year creates its row; a racing creator's row wins quietly
            self._c.execute(
                _insert(self._c)(t)
                .values(year=year, last=0)
                .on_conflict_do_nothing(index_elements=[t.c.year])
            )
            taken = self._c.execute(_NEXT_NUMBERS, values).scalar_one()
        return int(taken) - count + 1

    def _links(self, case_ids: list[int]) -> dict[int, list[Link]]:
        found: dict[int, list[Link]] = {case_id: [] for case_id in case_ids}
        if not case_ids:
            return found
        rows = self._c.execute(
            sa.select(case_links)
            .where(case_links.c.case_id.in_(case_ids))
            .order_by(case_links.c.kind, case_links.c.reference)
        )
        for row in rows:
            found[int(row.case_id)].append(Link(LinkKind(row.kind), str(row.reference)))
        return found

    def _with_links(self, rows: Iterable[Row[Any]]) -> list[Case]:
        listed = list(rows)
        links = self._links([int(row.id) for row in listed])
        return [_case(row, tuple(links[int(row.id)])) for row in listed]

    def add(self, case: Case) -> Case:
        row = self._c.execute(_ADD_CASE, case_values(case)).one()
        for link in case.links:
            self.add_link(int(row.id), link)
        return attrs.evolve(case, id=int(row.id))

    def add_all(self, cases: Sequence[Case]) -> list[Case]:
        if len(cases) < 2:
            return [self.add(case) for case in cases]
        # one INSERT of every row (SQLAlchemy's "insertmanyvalues"), the rows it
        # returns matched to the cases by their numbers
        rows = {
            str(row.number): row
            for row in self._c.execute(_ADD_CASE, [case_values(case) for case in cases])
        }
        added = []
        for case in cases:
            row = rows[case.number]
            for link in case.links:
                self.add_link(int(row.id), link)
            added.append(attrs.evolve(case, id=int(row.id)))
        return added

    def get(self, number: str) -> Case | None:
        found = self._with_links(self._c.execute(sa.select(cases).where(cases.c.number == number)))
        return found[0] if found else None

    def lock(self, number: str) -> Case | None:
        query = sa.select(cases).where(cases.c.number == number)
        if self._c.dialect.name == "postgresql":
            query = query.with_for_update()
        found = self._with_links(self._c.execute(query))
        return found[0] if found else None

    def update(self, case: Case) -> None:
        values = case_values(case)
        del values["number"], values["opened_at"]
        self._c.execute(cases.update().where(cases.c.id == case.id).values(**values))

    def add_link(self, case_id: int, link: Link) -> bool:
        t = case_links
        added = self._c.execute(
            _insert(self._c)(t)
            .values(case_id=case_id, kind=link.kind.value, reference=link.reference)
            .on_conflict_do_nothing()
            .returning(t.c.case_id)
        ).first()
        return added is not None

    def add_message(self, message: Message, history: Sequence[HistoryEntry] = ()) -> Message:
        if not history or self._c.dialect.name != "postgresql":
            row = self._c.execute(_ADD_MESSAGE, _message_values(message)).one()
            for entry in history:
                self.add_history(entry)
            return attrs.evolve(message, id=int(row.id))
        # PostgreSQL: the history rides in the message's statement (a data-modifying
        # WITH), one round trip for both (issue 14's inbound email)
        return self._add_with_history([(message, history)])[0]

    def add_messages(
        self, posts: Sequence[tuple[Message, Sequence[HistoryEntry]]]
    ) -> list[Message]:
        if len(posts) < 2 or self._c.dialect.name != "postgresql":
            return [self.add_message(message, history) for message, history in posts]
        # PostgreSQL: every message and history entry in one statement (one round trip
        # for the cases an inbound batch opens)
        return self._add_with_history(posts)

    def add_all_with_messages(
        self, cases: Sequence[Case], posts: Sequence[tuple[Message, Sequence[HistoryEntry]]]
    ) -> tuple[list[Case], list[Message]]:
        if self._c.dialect.name != "postgresql" or any(case.links for case in cases):
            added = self.add_all(cases)
            return added, self.add_messages(with_case_ids(added, posts))
        values, entries = _posts_values(posts, [case.number for case in cases])
        for n, case in enumerate(cases):
            values.update({f"c{n}_{k}": v for k, v in case_values(case).items()})
        statement = _cases_with_messages(len(cases), entries)
        rows = {str(row.number): row for row in self._c.execute(statement, values)}
        added = [attrs.evolve(case, id=int(rows[case.number].id)) for case in cases]
        stored = [
            attrs.evolve(message, id=int(rows[case.number].message_id), case_id=case.id)
            for case, (message, _history) in zip(added, posts, strict=True)
        ]
        return added, stored

    def _add_with_history(
        self, posts: Sequence[tuple[Message, Sequence[HistoryEntry]]]
    ) -> list[Message]:
        """PostgreSQL: ``posts`` in one statement; the messages it returns matched to
        theirs by case, each of another case."""
        values, entries = _posts_values(posts)
        statement = _messages_with_history(len(posts), entries)
        rows = {int(row.case_id): row for row in self._c.execute(statement, values)}
        if len(rows) != len(posts):
            raise ValueError("add_messages takes one message a case")
        return [attrs.evolve(message, id=int(rows[message.case_id].id)) for message, _ in posts]

    def messages(self, case_id: int) -> list[Message]:
        t = case_messages
        rows = self._c.execute(sa.select(t).where(t.c.case_id == case_id).order_by(t.c.id))
        return [_message(row) for row in rows]

    def move_messages(self, from_case: int, to_case: int) -> int:
        t = case_messages
        moved = self._c.execute(t.update().where(t.c.case_id == from_case).values(case_id=to_case))
        return int(moved.rowcount)

    def add_history(self, entry: HistoryEntry) -> None:
        self._c.execute(_ADD_HISTORY, _history_values(entry))

    def history(self, case_id: int) -> list[HistoryEntry]:
        t = case_history
        rows = self._c.execute(sa.select(t).where(t.c.case_id == case_id).order_by(t.c.id))
        return [
            HistoryEntry(int(r.case_id), r.at, str(r.actor), str(r.action), str(r.detail))
            for r in rows
        ]

    def active_summaries(self, customer_number: str, limit: int) -> list[CaseSummary]:
        rows = self._c.execute(
            _ACTIVE_SUMMARIES, {"customer_number": customer_number, "limit": limit}
        )
        return [CaseSummary(row.number, row.subject, Status(row.status)) for row in rows]

    def queue(self, query: QueueFilter, now: datetime) -> list[Case]:
        t = cases
        # a merged duplicate lives on in its survivor
        select = sa.select(t).where(t.c.merged_into.is_(None))
        if query.statuses:
            select = select.where(t.c.status.in_([s.value for s in query.statuses]))
            if set(query.statuses) <= _STILL:
                # true of every such case; it lets the planner seek past the running
                # ones rather than filter them out one by one (PostgreSQL otherwise
                # walks ix_cases_due through every active case first)
                select = select.where(t.c.queue_due_at == NO_DEADLINE)
        if query.department is not None:
            select = select.where(t.c.department == query.department.value)
        if query.unassigned:
            select = select.where(t.c.assignee_id.is_(None))
        elif query.assignee_id is not None:
            select = select.where(t.c.assignee_id == query.assignee_id)
        if query.priority is not None:
            select = select.where(t.c.priority == query.priority.value)
        if query.channel is not None:
            select = select.where(t.c.channel == query.channel.value)
        if query.customer_number is not None:
            select = select.where(t.c.customer_number == query.customer_number)
        if query.escalated:
            select = select.where(t.c.escalated_at.is_not(None), t.c.status.not_in(_DONE))
        if query.recurring:
            select = select.where(t.c.recurring.is_(True))
        if query.breached:
            select = select.where(t.c.queue_due_at < now)
        elif query.due_within is not None:
            select = select.where(
                t.c.queue_due_at >= now, t.c.queue_due_at < now + query.due_within
            )
        order = (t.c.priority_rank, t.c.queue_due_at, t.c.id) if query.by_priority else ()
        select = select.order_by(*(order or (t.c.queue_due_at, t.c.id)))
        select = select.limit(query.limit).offset(query.offset)
        return self._with_links(self._c.execute(select))

    def case_of_message_ids(self, message_ids: Iterable[str]) -> Case | None:
        wanted = [m for m in message_ids if m]
        if not wanted:
            return None
        row = self._c.execute(
            sa.select(cases)
            .join(case_messages, case_messages.c.case_id == cases.c.id)
            .where(case_messages.c.message_id.in_(wanted))
            .order_by(case_messages.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else self._with_links([row])[0]

    def cases_linked_to(self, kind: LinkKind, reference: str) -> list[Case]:
        rows = self._c.execute(
            sa.select(cases)
            .join(case_links, case_links.c.case_id == cases.c.id)
            .where(case_links.c.kind == kind.value, case_links.c.reference == reference)
            .order_by(cases.c.id)
        )
        return self._with_links(rows)

    def opened_since(self, customer_number: str, department: Department, since: datetime) -> int:
        t = cases
        return int(
            self._c.execute(
                sa.select(sa.func.count())
                .select_from(t)
                .where(
                    t.c.customer_number == customer_number,
                    t.c.department == department.value,
                    t.c.opened_at >= since,
                    t.c.merged_into.is_(None),
                )
            ).scalar_one()
        )

    def open_load(self, assignee_ids: Iterable[int]) -> dict[int, int]:
        ids = list(assignee_ids)
        load = dict.fromkeys(ids, 0)
        if not ids:
            return load
        t = cases
        rows = self._c.execute(
            sa.select(t.c.assignee_id, sa.func.count())
            .where(t.c.assignee_id.in_(ids), t.c.status.not_in(_DONE))
            .group_by(t.c.assignee_id)
        )
        for assignee, count in rows:
            load[int(assignee)] = int(count)
        return load

    def due_before(self, moment: datetime, *, limit: int) -> list[Case]:
        t = cases
        rows = self._c.execute(
            sa.select(t)
            .where(t.c.queue_due_at < moment)
            .order_by(t.c.queue_due_at, t.c.id)
            .limit(limit)
        )
        return self._with_links(rows)

    def to_warn(self, before: datetime, *, limit: int) -> list[Case]:
        t = cases
        rows = self._c.execute(
            sa.select(t)
            .where(
                t.c.queue_due_at < before,
                t.c.warned_at.is_(None),
                t.c.assignee_id.is_not(None),
            )
            .order_by(t.c.queue_due_at, t.c.id)
            .limit(limit)
        )
        return self._with_links(rows)

    def to_escalate(self, now: datetime, *, limit: int) -> list[Case]:
        t = cases
        rows = self._c.execute(
            sa.select(t)
            .where(
                t.c.queue_due_at < now,
                sa.or_(t.c.breached_at.is_(None), t.c.breached_at < t.c.queue_due_at),
            )
            .order_by(t.c.queue_due_at, t.c.id)
            .limit(limit)
        )
        return self._with_links(rows)

    def agents(self, department: Department | None = None) -> list[Agent]:
        if department is None:
            rows = list(self._c.execute(_AGENTS))
        else:
            rows = list(self._c.execute(_DESK_AGENTS, {"department": department.value}))
        if not rows:
            return []
        departments: dict[int, set[Department]] = {int(r.user_id): set() for r in rows}
        for user_id, name in self._c.execute(
            sa.select(case_agent_departments.c.user_id, case_agent_departments.c.department).where(
                case_agent_departments.c.user_id.in_(list(departments))
            )
        ):
            departments[int(user_id)].add(Department(name))
        return [
            Agent(int(r.user_id), str(r.name), frozenset(departments[int(r.user_id)]), r.available)
            for r in rows
        ]

    def agent(self, user_id: int) -> Agent | None:
        found = [a for a in self.agents() if a.user_id == user_id]
        return found[0] if found else None

    def save_agent(self, agent: Agent, at: datetime) -> None:
        t = case_agents
        values = {"name": agent.name, "available": agent.available, "updated_at": at}
        self._c.execute(
            _insert(self._c)(t)
            .values(user_id=agent.user_id, **values)
            .on_conflict_do_update(index_elements=[t.c.user_id], set_=values)
        )
        d = case_agent_departments
        self._c.execute(d.delete().where(d.c.user_id == agent.user_id))
        for department in sorted(agent.departments):
            self._c.execute(d.insert().values(user_id=agent.user_id, department=department.value))

    def profile(self, customer_number: str) -> AccountProfile | None:
        t = case_account_profiles
        row = self._c.execute(sa.select(t).where(t.c.customer_number == customer_number)).first()
        if row is None:
            return None
        return AccountProfile(
            customer_number=str(row.customer_number),
            time_zone=row.time_zone,
            subdivision=row.subdivision,
            account_manager_id=row.account_manager_id,
        )

    def save_profile(self, profile: AccountProfile, at: datetime) -> None:
        t = case_account_profiles
        values = {
            "time_zone": profile.time_zone,
            "subdivision": profile.subdivision,
            "account_manager_id": profile.account_manager_id,
            "updated_at": at,
        }
        self._c.execute(
            _insert(self._c)(t)
            .values(customer_number=profile.customer_number, **values)
            .on_conflict_do_update(index_elements=[t.c.customer_number], set_=values)
        )

    def claim(self, case_id: int) -> Claim | None:
        t = case_claims
        row = self._c.execute(sa.select(t).where(t.c.case_id == case_id)).first()
        if row is None:
            return None
        d = case_claim_documents
        documents = {
            Document(r.document): str(r.sha256)
            for r in self._c.execute(sa.select(d).where(d.c.case_id == case_id))
        }
        m = row._mapping
        currency = str(m["currency"])
        refunded = m["refunded_mills"]
        return Claim(
            case_id=int(m["case_id"]),
            kind=ClaimKind(m["kind"]),
            tracking_number=str(m["tracking_number"]),
            declared_value=Money(int(m["declared_mills"]), currency),
            filed_at=m["filed_at"],
            deadline=m["deadline"],
            documents=documents,
            outcome=Outcome(m["outcome"]),
            outcome_reason=str(m["outcome_reason"]),
            refunded=None if refunded is None else Money(int(refunded), currency),
            refund_transfer_id=m["refund_transfer_id"],
            reshipment=str(m["reshipment"]),
            decided_at=m["decided_at"],
            decided_by=str(m["decided_by"]),
        )

    def save_claim(self, claim: Claim) -> None:
        t = case_claims
        values = {
            "kind": claim.kind.value,
            "tracking_number": claim.tracking_number,
            "declared_mills": claim.declared_value.mills,
            "currency": claim.declared_value.currency,
            "filed_at": claim.filed_at,
            "deadline": claim.deadline,
            "outcome": claim.outcome.value,
            "outcome_reason": claim.outcome_reason,
            "refunded_mills": None if claim.refunded is None else claim.refunded.mills,
            "refund_transfer_id": claim.refund_transfer_id,
            "reshipment": claim.reshipment,
            "decided_at": claim.decided_at,
            "decided_by": claim.decided_by,
        }
        self._c.execute(
            _insert(self._c)(t)
            .values(case_id=claim.case_id, **values)
            .on_conflict_do_update(index_elements=[t.c.case_id], set_=values)
        )
        d = case_claim_documents
        self._c.execute(d.delete().where(d.c.case_id == claim.case_id))
        for document, sha256 in sorted(claim.documents.items()):
            self._c.execute(
                d.insert().values(case_id=claim.case_id, document=document.value, sha256=sha256)
            )

    def report_rows(self, since: datetime, until: datetime) -> list[Case]:
        t = cases
        rows = self._c.execute(
            sa.select(t)
            .where(t.c.opened_at >= since, t.c.opened_at < until, t.c.merged_into.is_(None))
            .order_by(t.c.id)
        )
        return [_case(row) for row in rows]


_DONE = (Status.RESOLVED.value, Status.CLOSED.value)
#: statuses whose SLA clock stands still (``queue_due_at`` is ``NO_DEADLINE``)
_STILL = frozenset({Status.WAITING, Status.RESOLVED, Status.CLOSED})
