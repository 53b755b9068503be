"""The canned replies' table and their repository (SQLAlchemy Core)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.cases.canned import CannedReply
from postroom.core.db import UtcDateTime, metadata

case_canned_replies = sa.Table(
    "case_canned_replies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(120), nullable=False),
    sa.Column("department", sa.String(20), nullable=True),
    sa.Column("body_en", sa.Text, nullable=False),
    sa.Column("body_fr", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)


def _reply(row: Row[Any]) -> CannedReply:
    m = row._mapping
    return CannedReply(
        id=m["id"],
        title=m["title"],
        department=m["department"],
        body_en=m["body_en"],
        body_fr=m["body_fr"],
        updated_at=m["updated_at"],
    )


def _values(reply: CannedReply) -> dict[str, Any]:
    return {
        "title": reply.title,
        "department": reply.department,
        "body_en": reply.body_en,
        "body_fr": reply.body_fr,
        "updated_at": reply.updated_at,
    }


class CannedStore:
    """``CannedRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, reply: CannedReply) -> CannedReply:
        t = case_canned_replies
        row = self._c.execute(t.insert().values(**_values(reply)).returning(*t.c)).one()
        return _reply(row)

    def get(self, reply_id: int) -> CannedReply | None:
        t = case_canned_replies
        row = self._c.execute(sa.select(t).where(t.c.id == reply_id)).first()
        return None if row is None else _reply(row)

    def replace(self, reply: CannedReply) -> bool:
        t = case_canned_replies
        done = self._c.execute(t.update().where(t.c.id == reply.id).values(**_values(reply)))
        return done.rowcount == 1

    def delete(self, reply_id: int) -> bool:
        t = case_canned_replies
        return self._c.execute(t.delete().where(t.c.id == reply_id)).rowcount == 1

    def listed(self, department: str | None) -> list[CannedReply]:
        t = case_canned_replies
        query = sa.select(t)
        if department is not None:
            query = query.where(sa.or_(t.c.department.is_(None), t.c.department == department))
        return [_reply(row) for row in self._c.execute(query.order_by(t.c.title, t.c.id))]
