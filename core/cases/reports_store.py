"""What the support reports read of the cases table: a few columns, no repository
write (``ReportFacts`` of ``reports.py``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from postroom.core.cases.model import ACTIVE
from postroom.core.cases.reports import CaseFacts
from postroom.core.cases.store import cases


class ReportFactsStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def opened_between(self, since: datetime, until: datetime) -> list[CaseFacts]:
        t = cases
        rows = self._c.execute(
            sa.select(
                t.c.channel,
                t.c.department,
                t.c.opened_at,
                t.c.first_response_at,
                t.c.first_response_due,
                t.c.resolved_at,
                t.c.resolution_due,
            ).where(t.c.opened_at >= since, t.c.opened_at < until, t.c.merged_into.is_(None))
        )
        return [CaseFacts(*row) for row in rows]

    def backlog_opened(self) -> list[datetime]:
        t = cases
        found = self._c.execute(
            sa.select(t.c.opened_at).where(
                t.c.status.in_([s.value for s in ACTIVE]), t.c.merged_into.is_(None)
            )
        )
        return list(found.scalars())
