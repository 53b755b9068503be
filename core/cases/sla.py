"""SLA deadlines of a case in business time: pure functions of the case, its calendar,
the targets and the moment asked about.

A deadline is the opening instant's business position plus the target, plus the
business time the case spent waiting on the customer (``paused_seconds``, and the
current wait while it lasts): the clock stands still while the customer has the ball.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from postroom.core.cases.calendar import HOUR, BusinessCalendar
from postroom.core.cases.model import Case, SlaTargets


@attrs.frozen
class Deadlines:
    first_response_due: datetime
    resolution_due: datetime


@attrs.frozen
class SlaView:
    """What the console and ``cases show --json`` say about a case's SLA at ``now``."""

    first_response_due: datetime
    resolution_due: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    paused: bool
    #: the first response or the resolution came (or is still missing) after its deadline
    first_response_breached: bool
    resolution_breached: bool
    time_zone: str

    @property
    def breached(self) -> bool:
        return self.first_response_breached or self.resolution_breached


def deadlines(
    case: Case,
    calendar: BusinessCalendar,
    targets: SlaTargets,
    *,
    extra_paused: int = 0,
) -> Deadlines:
    """The deadlines of ``case`` with ``extra_paused`` business seconds of waiting that
    its ``paused_seconds`` does not count yet."""
    start = calendar.position(case.opened_at) + case.paused_seconds + extra_paused
    return Deadlines(
        first_response_due=calendar.at_position(
            start + targets.first_response[case.priority] * HOUR
        ),
        resolution_due=calendar.at_position(start + targets.resolution[case.priority] * HOUR),
    )


def current_wait(case: Case, calendar: BusinessCalendar, now: datetime) -> int:
    """Business seconds of the wait under way (0 when the case is not waiting)."""
    if case.waiting_since is None:
        return 0
    return calendar.between(case.waiting_since, now)


def view(case: Case, calendar: BusinessCalendar, targets: SlaTargets, now: datetime) -> SlaView:
    """The SLA of ``case`` at ``now``; while it waits, the deadlines move with the wait."""
    due = deadlines(case, calendar, targets, extra_paused=current_wait(case, calendar, now))
    responded = case.first_response_at
    if responded is not None and case.first_response_due is not None:
        due = attrs.evolve(due, first_response_due=case.first_response_due)
    resolved = case.resolved_at if case.resolved_at is not None else case.closed_at
    return SlaView(
        first_response_due=due.first_response_due,
        resolution_due=due.resolution_due,
        first_response_at=responded,
        resolved_at=resolved,
        paused=case.waiting_since is not None,
        first_response_breached=(responded or now) > due.first_response_due,
        resolution_breached=(resolved or now) > due.resolution_due,
        time_zone=calendar.time_zone,
    )
