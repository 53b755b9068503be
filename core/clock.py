"""The injectable clock: nothing in postroom reads the system time directly.

Services take a Clock; tests hand them a FrozenClock and move it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import attrs


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def today(clock: Clock) -> date:
    """The current UTC calendar date on ``clock``."""
    return clock.now().date()


@attrs.define
class FrozenClock:
    """A clock that only moves when told to."""

    current: datetime = attrs.field()

    @current.validator
    def _aware(self, _attribute: attrs.Attribute[datetime], value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")

    @classmethod
    def at(cls, iso: str) -> FrozenClock:
        moment = datetime.fromisoformat(iso)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return cls(moment.astimezone(UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("a clock does not run backwards")
        self.current = self.current + delta

    def set(self, moment: datetime) -> None:
        self._aware(attrs.fields(FrozenClock).current, moment)
        self.current = moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO 8601 in UTC with microseconds and ``Z``: ``0001-01-01T00:00:00.000000Z``.

    ``strftime("%Y")`` writes year 1 as ``1`` on some platforms, which is not ISO 8601;
    a naive ``moment`` (SQLite hands those back) is UTC.
    """
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite hands back naive UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
