"""The support reports' rules on plain facts (no I/O): volume, times, SLA attainment,
backlog age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postroom.core.cases.reports import (
    CaseFacts,
    CaseReports,
    age_band,
    attainment,
    build_report,
    durations,
)
from postroom.core.clock import FrozenClock
from postroom.core.errors import ValidationError

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def facts(channel: str, department: str, opened: datetime, **moments: datetime | None) -> CaseFacts:
    return CaseFacts(
        channel,
        department,
        opened,
        moments.get("first_response_at"),
        moments.get("first_response_due"),
        moments.get("resolved_at"),
        moments.get("resolution_due"),
    )


def test_volume_by_channel_and_department_lists_every_value_even_at_zero() -> None:
    opened = NOW - 30 * H
    report = build_report(
        [
            facts("web", "billing", opened),
            facts("web", "equipment", opened),
            facts("phone", "billing", opened),
        ],
        [],
        since=NOW - 48 * H,
        until=NOW,
        now=NOW,
    )
    assert dict(report.by_channel) == {
        "phone": 1,
        "email": 0,
        "web": 2,
        "chat": 0,
        "social": 0,
        "mail": 0,
    }
    assert dict(report.by_department)["billing"] == 2
    assert report.opened == 3


def test_times_are_median_mean_and_90th_percentile_in_hours() -> None:
    figures = durations([1.0, 2.0, 3.0, 4.0, 10.0])
    assert figures.count == 5
    assert figures.median_hours == 3.0
    assert figures.mean_hours == 4.0
    assert figures.p90_hours == 10.0
    assert durations([]).count == 0


def test_attainment_counts_met_missed_and_overdue_but_not_still_running() -> None:
    due = NOW - H
    result = attainment(
        [
            (NOW - 2 * H, due),  # met
            (NOW - 0.5 * H, due),  # late
            (None, due),  # overdue, not reached
            (None, NOW + H),  # still running: not counted
            (None, None),  # no deadline
        ],
        NOW,
    )
    assert (result.met, result.due) == (1, 3)
    assert result.percent == pytest.approx(100 / 3)
    assert attainment([], NOW).percent is None


def test_backlog_falls_in_age_bands() -> None:
    assert age_band(NOW - H, NOW) == "under_1_day"
    assert age_band(NOW - timedelta(days=2), NOW) == "1_to_3_days"
    assert age_band(NOW - timedelta(days=3), NOW) == "3_to_7_days"
    assert age_band(NOW - timedelta(days=45), NOW) == "over_30_days"
    report = build_report(
        [], [NOW - H, NOW - 2 * H, NOW - timedelta(days=10)], since=NOW - H, until=NOW, now=NOW
    )
    assert dict(report.backlog) == {
        "under_1_day": 2,
        "1_to_3_days": 0,
        "3_to_7_days": 0,
        "7_to_30_days": 1,
        "over_30_days": 0,
    }


class FakeFacts:
    def __init__(self, rows: list[CaseFacts], backlog: list[datetime]) -> None:
        self.rows, self.backlog = rows, backlog

    def opened_between(self, since: datetime, until: datetime) -> list[CaseFacts]:
        return [r for r in self.rows if since <= r.opened_at < until]

    def backlog_opened(self) -> list[datetime]:
        return self.backlog


class FakeDb:
    def run(self, work, *, readonly=False):  # type: ignore[no-untyped-def]
        return work(None)


def test_the_service_reads_the_period_and_refuses_a_bad_one() -> None:
    rows = [facts("web", "billing", NOW - 2 * H), facts("web", "billing", NOW - 100 * H)]
    reports = CaseReports(FakeDb(), FrozenClock(NOW), lambda _uow: FakeFacts(rows, [NOW - H]))
    assert reports.report(NOW - 24 * H, NOW).opened == 1
    for since, until, code in [
        (NOW, NOW, "invalid_period"),
        (NOW - timedelta(days=400), NOW, "period_too_long"),
    ]:
        with pytest.raises(ValidationError) as raised:
            reports.report(since, until)
        assert raised.value.code == code
