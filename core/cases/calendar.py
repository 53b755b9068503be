"""Business time for SLAs: Monday to Friday, 09:00 to 17:00 in the account's time zone,
minus the public holidays of its country (and state or province) from ``holidays``.

Pure and fast (an SLA deadline is computed on every change of a case): a calendar
precomputes, for a span of years, the UTC instant each business day opens. A moment's
*position* is the business seconds before it (days before it x 8 h, plus the part of
its own day), found by one binary search; a deadline is the position plus the target,
turned back into an instant by one division and one list look-up. No loop over hours
or days, no time-zone conversion per call; daylight-saving changes are in the
precomputed opening instants.
"""

from __future__ import annotations

import bisect
import functools
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from postroom.core.errors import ValidationError

OPENS_AT = 9  # local hour
CLOSES_AT = 17
DAY_SECONDS = (CLOSES_AT - OPENS_AT) * 3600
HOUR = 3600
#: years precomputed around the first moment asked about; more are added on demand
_SPAN_BEFORE = 1
_SPAN_AFTER = 3


def parse_subdivision(country: str, text: object) -> str | None:
    """The state or province code whose holidays count too (``NY``, ``QC``); None when
    empty."""
    if text is None or text == "":
        return None
    clean = text.strip().upper() if isinstance(text, str) else ""
    known = holidays.list_supported_countries().get(country.upper(), [])
    if clean not in known:
        raise ValidationError(
            f"{text!r} is not a state or province of {country} with its own holidays",
            code="invalid_subdivision",
        )
    return clean


class BusinessCalendar:
    """One working calendar: a time zone, a country and an optional subdivision."""

    def __init__(self, time_zone: str, country: str, subdivision: str | None = None) -> None:
        self.time_zone = time_zone
        self.country = country.upper()
        self.subdivision = subdivision
        self._zone = ZoneInfo(time_zone)
        self._lock = threading.Lock()
        self._first_year = 0
        self._last_year = -1
        #: the UTC POSIX second each business day opens, ascending
        self._opens: list[int] = []
        #: the business days themselves (for tests and reports)
        self._days: list[date] = []

    # ------------------------------------------------------------- the span

    def _holidays(self, first: int, last: int) -> set[date]:
        try:
            found = holidays.country_holidays(
                self.country, subdiv=self.subdivision, years=range(first, last + 1)
            )
        except NotImplementedError:  # a country the package does not know: weekends only
            return set()
        return set(found.keys())

    def _cover(self, year: int) -> None:
        """Make sure ``year`` and its neighbours are precomputed."""
        if self._first_year <= year - 1 and year + 1 <= self._last_year:
            return
        with self._lock:
            if self._last_year < self._first_year:
                first, last = year - _SPAN_BEFORE, year + _SPAN_AFTER
            else:
                first = min(self._first_year, year - _SPAN_BEFORE)
                last = max(self._last_year, year + _SPAN_AFTER)
            closed = self._holidays(first, last)
            days: list[date] = []
            opens: list[int] = []
            day = date(first, 1, 1)
            end = date(last, 12, 31)
            one = timedelta(days=1)
            while day <= end:
                if day.weekday() < 5 and day not in closed:
                    days.append(day)
                    local = datetime(day.year, day.month, day.day, OPENS_AT, tzinfo=self._zone)
                    opens.append(int(local.timestamp()))
                day += one
            # swap whole lists: a reader on another thread sees the old or the new span
            self._days, self._opens = days, opens
            self._first_year, self._last_year = first, last

    # ------------------------------------------------------------ the rules

    def position(self, moment: datetime) -> int:
        """Business seconds from the start of the span to ``moment``."""
        self._cover(moment.year)
        second = int(moment.timestamp())
        opens = self._opens
        index = bisect.bisect_right(opens, second) - 1
        if index < 0:
            return 0
        return index * DAY_SECONDS + min(second - opens[index], DAY_SECONDS)

    def at_position(self, position: int) -> datetime:
        """The instant (UTC) at business position ``position``; a deadline that falls on
        a closing time stays on that day's 17:00 rather than the next day's 09:00."""
        index, into = divmod(position, DAY_SECONDS)
        if into == 0 and index > 0:
            index, into = index - 1, DAY_SECONDS
        while index >= len(self._opens):  # beyond the span: grow it
            self._cover(self._last_year + 1)
        return datetime.fromtimestamp(self._opens[index] + into, UTC)

    def add(self, moment: datetime, seconds: int) -> datetime:
        """The instant ``seconds`` business seconds after ``moment``."""
        return self.at_position(self.position(moment) + seconds)

    def between(self, start: datetime, end: datetime) -> int:
        """Business seconds from ``start`` to ``end`` (0 when ``end`` is not later)."""
        if end <= start:
            return 0
        self._cover(start.year)
        self._cover(end.year)
        return self.position(end) - self.position(start)

    def is_business_day(self, day: date) -> bool:
        self._cover(day.year)
        index = bisect.bisect_left(self._days, day)
        return index < len(self._days) and self._days[index] == day


@functools.lru_cache(maxsize=512)
def calendar_for(time_zone: str, country: str, subdivision: str | None = None) -> BusinessCalendar:
    """The shared calendar of a time zone, country and subdivision (precomputed once)."""
    return BusinessCalendar(time_zone, country, subdivision)
