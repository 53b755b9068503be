"""The email channel's tables: every inbound email kept with its outcome, and the
Message-Ids of each case's emails (both ways) that thread replies to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from postroom.core.cases.mail_model import COUNTED, Direction, KeptEmail, Outcome
from postroom.core.db import (
    UtcDateTime,
    insert,
    inserts_together,
    metadata,
    rows_on_driver,
)

cases_mail_inbound = sa.Table(
    "cases_mail_inbound",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("envelope_sender", sa.String(320), nullable=True),
    sa.Column("sender", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("message_id", sa.String(255), nullable=True),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("case_number", sa.String(20), nullable=True),
    sa.Column("notified", sa.Boolean, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Index("ix_cases_mail_inbound_sender", "sender", "received_at"),
    sa.Index("ix_cases_mail_inbound_outcome", "outcome", "received_at"),
)

cases_mail_ids = sa.Table(
    "cases_mail_ids",
    metadata,
    # the order emails were written in (two can share a moment of the frozen clock)
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("case_number", sa.String(20), nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_cases_mail_ids_case", "case_number", "id"),
)

_LISTED = [c for c in cases_mail_inbound.c if c.name != "raw"]


class MailRepository(Protocol):
    """The email channel's storage, on one unit of work."""

    def keep(
        self,
        *,
        received_at: datetime,
        source: str,
        envelope_sender: str | None,
        sender: str,
        subject: str,
        message_id: str | None,
        outcome: Outcome,
        reason: str,
        case_number: str | None,
        notified: bool,
        raw: bytes,
    ) -> int:
        """Keep an inbound email; its id."""
        ...

    def keep_all(self, emails: Sequence[Mapping[str, Any]]) -> list[int]:
        """Keep several inbound emails (each ``keep``'s arguments) in one statement;
        their ids, in their order."""
        ...

    def sent_since(self, sender: str, since: datetime) -> tuple[int, bool]:
        """How many emails ``sender`` sent since ``since`` that count against the flood
        limit, and whether they were told of it in that time."""
        ...

    def sent_since_by(self, senders: Sequence[str], since: datetime) -> dict[str, tuple[int, bool]]:
        """``sent_since`` of each of ``senders`` (those who sent none are left out), in
        one read."""
        ...

    def cases_of(self, message_ids: Sequence[str]) -> dict[str, str]:
        """The case number of each of these Message-Ids that belongs to a case."""
        ...

    def screening(
        self, message_ids: Sequence[str], senders: Sequence[str], since: datetime
    ) -> tuple[dict[str, str], dict[str, tuple[int, bool]]]:
        """``cases_of(message_ids)`` and ``sent_since_by(senders, since)``, in one read
        (a batch of inbound emails asks both at its start)."""
        ...

    def remember(
        self, message_id: str, case_number: str, direction: Direction, at: datetime
    ) -> bool:
        """Note that ``message_id`` belongs to ``case_number``; False if it was known."""
        ...

    def writing_together(self) -> AbstractContextManager[None]:
        """In the block, this store's batch writes and the outbox's on the same
        transaction go to the database together, with the emails kept (``keep_all``)
        last (``db.inserts_together``: one round trip on PostgreSQL)."""
        ...

    def remember_all(self, ids: Sequence[tuple[str, str, Direction, datetime]]) -> None:
        """``remember`` each ``(message_id, case_number, direction, at)``, in one
        statement; the ones already known stay as they were."""
        ...

    def thread(self, case_number: str) -> list[tuple[str, Direction]]:
        """The Message-Ids of a case's emails and which way each went, oldest first."""
        ...

    def listed(self, outcome: Outcome | None, limit: int) -> list[KeptEmail]: ...

    def raw(self, kept_id: int) -> bytes | None: ...


def _kept(row: Row[Any]) -> KeptEmail:
    m = row._mapping
    return KeptEmail(
        id=int(m["id"]),
        received_at=m["received_at"],
        source=str(m["source"]),
        envelope_sender=m["envelope_sender"],
        sender=str(m["sender"]),
        subject=str(m["subject"]),
        message_id=m["message_id"],
        outcome=Outcome(str(m["outcome"])),
        reason=str(m["reason"]),
        case_number=m["case_number"],
        size=int(m["size"]),
    )


# Built once; the values come with each execution (issue 14's inbound throughput:
# building a statement cost more than running it).
_KEEP = cases_mail_inbound.insert().returning(cases_mail_inbound.c.id)
#: several at once: one multi-row INSERT (SQLAlchemy's "insertmanyvalues"), the ids in
#: the rows' order
_KEEP_ALL = cases_mail_inbound.insert().returning(
    cases_mail_inbound.c.id, sort_by_parameter_order=True
)
#: remembering a Message-Id that is already known changes nothing (SQLite, PostgreSQL)
_REMEMBER = {
    postgres: insert(cases_mail_ids).on_conflict_do_nothing(
        index_elements=[cases_mail_ids.c.message_id]
    )
    for postgres, insert in ((False, sqlite_insert), (True, pg_insert))
}


_t = cases_mail_inbound
_SENT_SINCE = sa.select(
    sa.func.coalesce(
        sa.func.sum(sa.case((_t.c.outcome.in_([o.value for o in COUNTED]), 1), else_=0)), 0
    ),
    sa.func.max(sa.case((_t.c.notified.is_(True), 1), else_=0)),
).where(_t.c.sender == sa.bindparam("sender"), _t.c.received_at > sa.bindparam("since"))
_SENT_SINCE_BY = (
    sa.select(
        _t.c.sender,
        sa.func.sum(sa.case((_t.c.outcome.in_([o.value for o in COUNTED]), 1), else_=0)),
        sa.func.max(sa.case((_t.c.notified.is_(True), 1), else_=0)),
    )
    .where(
        _t.c.sender.in_(sa.bindparam("senders", expanding=True)),
        _t.c.received_at > sa.bindparam("since"),
    )
    .group_by(_t.c.sender)
)
_CASE_IDS = sa.select(cases_mail_ids.c.message_id, cases_mail_ids.c.case_number)
_CASES_OF = _CASE_IDS.where(cases_mail_ids.c.message_id.in_(sa.bindparam("ids", expanding=True)))
#: both in one read: what the ids belong to, and what the senders sent since
_SCREENING = sa.union_all(
    sa.select(
        sa.literal("id", sa.String).label("kind"),
        cases_mail_ids.c.message_id.label("key"),
        cases_mail_ids.c.case_number,
        sa.literal(0, sa.Integer).label("sent"),
        sa.literal(0, sa.Integer).label("told"),
    ).where(cases_mail_ids.c.message_id.in_(sa.bindparam("ids", expanding=True))),
    _SENT_SINCE_BY.with_only_columns(
        sa.literal("sender", sa.String),
        _t.c.sender,
        sa.null(),
        *_SENT_SINCE_BY.selected_columns[1:],
    ),
)
# a new email names one id, its own: a statement whose text never changes (an IN list
# is rendered again at each execution, and PostgreSQL prepares only what repeats)
_CASE_OF = _CASE_IDS.where(cases_mail_ids.c.message_id == sa.bindparam("id"))


def _kept_values(
    *,
    received_at: datetime,
    source: str,
    envelope_sender: str | None,
    sender: str,
    subject: str,
    message_id: str | None,
    outcome: Outcome,
    reason: str,
    case_number: str | None,
    notified: bool,
    raw: bytes,
) -> dict[str, Any]:
    return {
        "received_at": received_at,
        "source": source[:20],
        "envelope_sender": None if envelope_sender is None else envelope_sender[:320],
        "sender": sender[:320],
        "subject": subject[:300],
        "message_id": None if message_id is None else message_id[:255],
        "outcome": outcome.value,
        "reason": reason[:500],
        "case_number": case_number,
        "notified": notified,
        "size": len(raw),
        "raw": raw,
    }


class MailStore:
    """``MailRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def keep(
        self,
        *,
        received_at: datetime,
        source: str,
        envelope_sender: str | None,
        sender: str,
        subject: str,
        message_id: str | None,
        outcome: Outcome,
        reason: str,
        case_number: str | None,
        notified: bool,
        raw: bytes,
    ) -> int:
        row = self._c.execute(
            _KEEP,
            _kept_values(
                received_at=received_at,
                source=source,
                envelope_sender=envelope_sender,
                sender=sender,
                subject=subject,
                message_id=message_id,
                outcome=outcome,
                reason=reason,
                case_number=case_number,
                notified=notified,
                raw=raw,
            ),
        ).one()
        return int(row[0])

    def keep_all(self, emails: Sequence[Mapping[str, Any]]) -> list[int]:
        rows = insert(
            self._c,
            _KEEP if len(emails) == 1 else _KEEP_ALL,
            [_kept_values(**email) for email in emails],
        )
        return [int(row[0]) for row in rows]

    def sent_since(self, sender: str, since: datetime) -> tuple[int, bool]:
        row = self._c.execute(_SENT_SINCE, {"sender": sender, "since": since}).one()
        return int(row[0]), bool(row[1])

    def sent_since_by(self, senders: Sequence[str], since: datetime) -> dict[str, tuple[int, bool]]:
        if not senders:
            return {}
        rows = self._c.execute(_SENT_SINCE_BY, {"senders": list(senders), "since": since})
        return {str(r[0]): (int(r[1]), bool(r[2])) for r in rows}

    def screening(
        self, message_ids: Sequence[str], senders: Sequence[str], since: datetime
    ) -> tuple[dict[str, str], dict[str, tuple[int, bool]]]:
        if not message_ids or not senders:
            return self.cases_of(message_ids), self.sent_since_by(senders, since)
        rows = rows_on_driver(  # planned each time: the tables grow (see there)
            self._c,
            _SCREENING,
            {"ids": list(message_ids), "senders": list(senders), "since": since},
            prepare=False,
        )
        cases: dict[str, str] = {}
        sent: dict[str, tuple[int, bool]] = {}
        for kind, key, case_number, count, told in rows:
            if kind == "id":
                cases[str(key)] = str(case_number)
            else:
                sent[str(key)] = (int(count), bool(told))
        return cases, sent

    def cases_of(self, message_ids: Sequence[str]) -> dict[str, str]:
        if not message_ids:
            return {}
        if len(message_ids) == 1:
            rows = self._c.execute(_CASE_OF, {"id": message_ids[0]})
        else:
            rows = self._c.execute(_CASES_OF, {"ids": list(message_ids)})
        return {str(r[0]): str(r[1]) for r in rows}

    def remember(
        self, message_id: str, case_number: str, direction: Direction, at: datetime
    ) -> bool:
        done = self._c.execute(
            _REMEMBER[self._c.dialect.name == "postgresql"],
            {
                "message_id": message_id[:255],
                "case_number": case_number,
                "direction": direction.value,
                "created_at": at,
            },
        )
        return done.rowcount == 1

    def writing_together(self) -> AbstractContextManager[None]:
        return inserts_together(self._c)

    def remember_all(self, ids: Sequence[tuple[str, str, Direction, datetime]]) -> None:
        if ids:
            insert(
                self._c,
                _REMEMBER[self._c.dialect.name == "postgresql"],
                [
                    {
                        "message_id": message_id[:255],
                        "case_number": case_number,
                        "direction": direction.value,
                        "created_at": at,
                    }
                    for message_id, case_number, direction, at in ids
                ],
            )

    def thread(self, case_number: str) -> list[tuple[str, Direction]]:
        t = cases_mail_ids
        rows = self._c.execute(
            sa.select(t.c.message_id, t.c.direction)
            .where(t.c.case_number == case_number)
            .order_by(t.c.id)
        )
        return [(str(r[0]), Direction(str(r[1]))) for r in rows]

    def listed(self, outcome: Outcome | None, limit: int) -> list[KeptEmail]:
        t = cases_mail_inbound
        query = sa.select(*_LISTED).order_by(t.c.received_at.desc(), t.c.id.desc()).limit(limit)
        if outcome is not None:
            query = query.where(t.c.outcome == outcome.value)
        return [_kept(r) for r in self._c.execute(query)]

    def raw(self, kept_id: int) -> bytes | None:
        t = cases_mail_inbound
        found = self._c.execute(sa.select(t.c.raw).where(t.c.id == kept_id)).first()
        return None if found is None else bytes(found[0])
