"""The support reports (``pr.case_reports``): volume by channel and department,
first-response and resolution times, SLA attainment and the backlog's age, for the cases
opened in a period (the backlog: every case still open now).

``build_report`` is the pure rule over the cases' facts; ``CaseReports`` reads those
facts (``ReportFacts``: a handful of columns, merged duplicates left out) in one
read-only transaction.
Times are elapsed hours, opening to first reply and to resolution; attainment compares
each moment with its deadline, which the SLA set in business time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from postroom.core.cases.model import Channel, Department
from postroom.core.clock import Clock
from postroom.core.errors import ValidationError

#: the backlog's age bands: (key, lower bound); a case falls in the last band it reaches
AGE_BANDS: tuple[tuple[str, timedelta], ...] = (
    ("under_1_day", timedelta(0)),
    ("1_to_3_days", timedelta(days=1)),
    ("3_to_7_days", timedelta(days=3)),
    ("7_to_30_days", timedelta(days=7)),
    ("over_30_days", timedelta(days=30)),
)
MAX_PERIOD = timedelta(days=366)


@attrs.frozen
class CaseFacts:
    """What the reports need of one case."""

    channel: str
    department: str
    opened_at: datetime
    first_response_at: datetime | None
    first_response_due: datetime | None
    resolved_at: datetime | None
    resolution_due: datetime | None


@attrs.frozen
class Durations:
    """Elapsed hours over the cases that reached the moment (count 0: no figures)."""

    count: int
    mean_hours: float
    median_hours: float
    p90_hours: float


@attrs.frozen
class Attainment:
    """Cases that reached the moment by its deadline, of those that reached it or
    passed the deadline without it."""

    met: int
    due: int

    @property
    def percent(self) -> float | None:
        return None if self.due == 0 else 100.0 * self.met / self.due


@attrs.frozen
class Report:
    since: datetime
    until: datetime
    opened: int
    by_channel: tuple[tuple[str, int], ...]
    by_department: tuple[tuple[str, int], ...]
    first_response: Durations
    resolution: Durations
    first_response_sla: Attainment
    resolution_sla: Attainment
    backlog: tuple[tuple[str, int], ...]


# -------------------------------------------------------------------- rules


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank quantile of sorted values."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def durations(hours: Iterable[float]) -> Durations:
    ordered = sorted(hours)
    if not ordered:
        return Durations(0, 0.0, 0.0, 0.0)
    return Durations(
        count=len(ordered),
        mean_hours=sum(ordered) / len(ordered),
        median_hours=_quantile(ordered, 0.5),
        p90_hours=_quantile(ordered, 0.9),
    )


def attainment(
    pairs: Iterable[tuple[datetime | None, datetime | None]], now: datetime
) -> Attainment:
    """``pairs`` of (moment reached or None, deadline): a deadline still ahead with the
    moment not reached yet counts neither way."""
    met = due = 0
    for reached, deadline in pairs:
        if deadline is None:
            continue
        if reached is not None:
            due += 1
            met += reached <= deadline
        elif deadline < now:
            due += 1
    return Attainment(met, due)


def age_band(opened_at: datetime, now: datetime) -> str:
    age = now - opened_at
    band = AGE_BANDS[0][0]
    for key, lower in AGE_BANDS:
        if age >= lower:
            band = key
    return band


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def build_report(
    facts: Sequence[CaseFacts],
    backlog_opened: Iterable[datetime],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
) -> Report:
    """The report of the cases opened in [since, until) (``facts``) and of the open
    backlog (``backlog_opened``: when each open case was opened)."""
    channels = Counter(f.channel for f in facts)
    departments = Counter(f.department for f in facts)
    ages = Counter(age_band(opened, now) for opened in backlog_opened)
    return Report(
        since=since,
        until=until,
        opened=len(facts),
        by_channel=tuple((c.value, channels[c.value]) for c in Channel),
        by_department=tuple((d.value, departments[d.value]) for d in Department),
        first_response=durations(
            _hours(f.opened_at, f.first_response_at) for f in facts if f.first_response_at
        ),
        resolution=durations(_hours(f.opened_at, f.resolved_at) for f in facts if f.resolved_at),
        first_response_sla=attainment(
            ((f.first_response_at, f.first_response_due) for f in facts), now
        ),
        resolution_sla=attainment(((f.resolved_at, f.resolution_due) for f in facts), now),
        backlog=tuple((key, ages[key]) for key, _lower in AGE_BANDS),
    )


def check_period(since: datetime, until: datetime) -> None:
    if not since < until:
        raise ValidationError("the period ends after it starts", code="invalid_period")
    if until - since > MAX_PERIOD:
        raise ValidationError("a report covers at most a year", code="period_too_long")


# ------------------------------------------------------------------ reading


class ReportFacts(Protocol):
    """What ``CaseReports`` reads (``reports_store.ReportFactsStore``; a fake in tests)."""

    def opened_between(self, since: datetime, until: datetime) -> list[CaseFacts]:
        """The facts of the cases opened in [since, until), merged duplicates left out."""
        ...

    def backlog_opened(self) -> list[datetime]:
        """When each case still open was opened."""
        ...


class Session(Protocol):
    @property
    def connection(self) -> Any: ...


class Transactions(Protocol):
    def run(self, work: Callable[[Any], Any], *, readonly: bool = False) -> Any: ...


def _store(session: Session) -> ReportFacts:
    from postroom.core.cases.reports_store import ReportFactsStore  # it imports this module

    return ReportFactsStore(session.connection)


class CaseReports:
    """``pr.case_reports``: the console's reports (staff; the frontends check who)."""

    def __init__(
        self, db: Transactions, clock: Clock, facts: Callable[[Session], ReportFacts] = _store
    ) -> None:
        self._db = db
        self._clock = clock
        self._facts = facts

    def now(self) -> datetime:
        return self._clock.now()

    def report(self, since: datetime, until: datetime) -> Report:
        """The report of the cases opened in [since, until) and of today's backlog."""
        check_period(since, until)
        now = self._clock.now()

        def read(uow: Session) -> Report:
            facts = self._facts(uow)
            return build_report(
                facts.opened_between(since, until),
                facts.backlog_opened(),
                since=since,
                until=until,
                now=now,
            )

        result: Report = self._db.run(read, readonly=True)
        return result
