"""The SLA calendar: business hours in the account's time zone, public holidays of the
country and its state or province, daylight-saving changes. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from postroom.core.cases.calendar import (
    HOUR,
    BusinessCalendar,
    calendar_for,
    parse_subdivision,
)
from postroom.core.errors import ValidationError
from postroom.core.timezones import default_time_zone, parse_time_zone


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_default_time_zones_by_country():
    assert default_time_zone("US") == "America/New_York"
    assert default_time_zone("CA") == "America/Toronto"
    assert default_time_zone("FR") == "Europe/Paris"
    assert default_time_zone("ZZ") == "UTC"


def test_within_one_day_and_over_the_evening_and_weekend():
    paris = calendar_for("Europe/Paris", "FR")
    # Friday 2026-03-06 16:00 Paris + 2 business hours = Monday 10:00
    start = utc("2026-03-06T16:00:00+01:00")
    assert paris.add(start, 2 * HOUR) == utc("2026-03-09T10:00:00+01:00")
    assert paris.add(utc("2026-03-04T09:00:00+01:00"), 3 * HOUR) == utc("2026-03-04T12:00:00+01:00")


def test_a_deadline_at_closing_time_stays_on_that_day():
    paris = calendar_for("Europe/Paris", "FR")
    assert paris.add(utc("2026-03-04T09:00:00+01:00"), 8 * HOUR) == utc("2026-03-04T17:00:00+01:00")


def test_before_opening_and_at_night_count_from_the_next_opening():
    ny = calendar_for("America/New_York", "US")
    # Tuesday 06:00 and Monday 23:00 New York both count from Tuesday 09:00
    assert ny.add(utc("2026-03-03T06:00:00-05:00"), HOUR) == utc("2026-03-03T10:00:00-05:00")
    assert ny.add(utc("2026-03-02T23:00:00-05:00"), HOUR) == utc("2026-03-03T10:00:00-05:00")


def test_public_holidays_are_skipped():
    paris = calendar_for("Europe/Paris", "FR")
    # 2026-07-14 (Tuesday) is Bastille Day: Monday 16:00 + 2 h = Wednesday 10:00
    assert not paris.is_business_day(date(2026, 7, 14))
    assert paris.add(utc("2026-07-13T16:00:00+02:00"), 2 * HOUR) == utc("2026-07-15T10:00:00+02:00")
    ny = calendar_for("America/New_York", "US")
    # Thanksgiving 2026-11-26 and nothing else that week-end
    assert not ny.is_business_day(date(2026, 11, 26))
    assert ny.is_business_day(date(2026, 11, 27))


def test_state_and_province_holidays_count_when_the_account_has_one():
    # Saint-Jean-Baptiste (24 June) is a holiday in Quebec, not in Ontario
    quebec = BusinessCalendar("America/Toronto", "CA", "QC")
    ontario = BusinessCalendar("America/Toronto", "CA", "ON")
    assert not quebec.is_business_day(date(2026, 6, 24))
    assert ontario.is_business_day(date(2026, 6, 24))
    # Quebec: Tuesday 23 June 16:00 + 2 h = Thursday 25 June 10:00
    assert quebec.add(utc("2026-06-23T16:00:00-04:00"), 2 * HOUR) == utc(
        "2026-06-25T10:00:00-04:00"
    )


def test_daylight_saving_changes_keep_nine_to_five_local():
    paris = calendar_for("Europe/Paris", "FR")
    # Clocks go forward on Sunday 2026-03-29: Friday 16:00 CET + 2 h = Monday 10:00 CEST
    assert paris.add(utc("2026-03-27T16:00:00+01:00"), 2 * HOUR) == utc("2026-03-30T10:00:00+02:00")
    ny = calendar_for("America/New_York", "US")
    # and back on Sunday 2026-11-01 in New York
    assert ny.add(utc("2026-10-30T16:00:00-04:00"), 2 * HOUR) == utc("2026-11-02T10:00:00-05:00")


def test_between_counts_business_seconds_only():
    paris = calendar_for("Europe/Paris", "FR")
    start = utc("2026-03-06T16:00:00+01:00")  # Friday
    end = utc("2026-03-09T11:30:00+01:00")  # Monday
    assert paris.between(start, end) == HOUR + 2 * HOUR + 30 * 60
    assert paris.between(end, start) == 0


def test_far_deadlines_grow_the_precomputed_span():
    paris = BusinessCalendar("Europe/Paris", "FR")
    start = utc("2026-12-30T09:00:00+01:00")
    later = paris.add(start, 400 * 8 * HOUR)  # about 400 business days on
    assert later.year == 2028
    assert paris.between(start, later) == 400 * 8 * HOUR


def test_an_unknown_country_has_weekends_only():
    nowhere = BusinessCalendar("UTC", "")
    assert nowhere.add(utc("2026-12-25T16:00:00+00:00"), 2 * HOUR) == utc(
        "2026-12-28T10:00:00+00:00"
    )


def test_time_zones_and_subdivisions_are_checked():
    assert parse_time_zone("Europe/Paris") == "Europe/Paris"
    for bad in ("", "Mars/Olympus", "EST5EDT;", 3):
        with pytest.raises(ValidationError) as caught:
            parse_time_zone(bad)
        assert caught.value.code == "invalid_time_zone"
    assert parse_subdivision("US", "ny") == "NY"
    assert parse_subdivision("US", "") is None
    with pytest.raises(ValidationError) as caught:
        parse_subdivision("US", "XX")
    assert caught.value.code == "invalid_subdivision"


def test_positions_are_consistent_with_add_over_a_month():
    ny = calendar_for("America/New_York", "US")
    moment = utc("2026-02-02T08:00:00-05:00")
    for _ in range(200):
        moment += timedelta(minutes=97)
        for hours in (2, 8, 40):
            due = ny.add(moment, hours * HOUR)
            assert ny.between(moment, due) == hours * HOUR
            assert 9 <= due.astimezone(ny._zone).hour <= 17
