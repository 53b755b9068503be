from datetime import datetime, timedelta

import pytest

from postroom.core.clock import FrozenClock, today


def test_frozen_clock_stands_still_until_moved():
    clock = FrozenClock.at("2026-01-31T23:59:00+00:00")
    assert clock.now() == clock.now()
    clock.advance(timedelta(minutes=1))
    assert today(clock).isoformat() == "2026-02-01"


def test_frozen_clock_reads_naive_iso_as_utc_and_normalises_offsets():
    assert FrozenClock.at("2026-01-01T12:00:00").now().utcoffset() == timedelta(0)
    assert FrozenClock.at("2026-01-01T12:00:00+02:00").now().hour == 10


def test_frozen_clock_refuses_naive_datetimes_and_running_backwards():
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2026, 1, 1))
    clock = FrozenClock.at("2026-01-01T00:00:00+00:00")
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))
