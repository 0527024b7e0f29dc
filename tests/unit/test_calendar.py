"""Business-time arithmetic across weekends, holidays, lunch breaks and DST changes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tierline_shared.calendar import Calendar

LONDON = ZoneInfo("Europe/London")
DAY = ((time(9), time(12, 30)), (time(13, 30), time(17, 30)))  # 7.5 h with a lunch break
OFFICE = Calendar("london-office", LONDON, {d: DAY for d in range(5)},
                  frozenset({date(2026, 8, 31), date(2026, 12, 25), date(2026, 12, 28)}))
HOUR = 3600.0


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def test_two_business_days_from_friday_afternoon_before_a_holiday_monday() -> None:
    # Friday 28 Aug 2026, 16:00; Monday 31 Aug is a bank holiday.
    due = OFFICE.add(local(2026, 8, 28, 16, 0), 2 * 7.5 * HOUR)
    # 1.5 h on Friday, all of Tuesday (7.5 h), then 6 h of Wednesday: 3.5 before lunch.
    assert due == local(2026, 9, 2, 16, 0)
    assert OFFICE.business_seconds(local(2026, 8, 28, 16, 0), due) == 15 * HOUR
    # Christmas: Thursday 24 Dec 16:00, Friday 25 and Monday 28 closed.
    assert OFFICE.add(local(2026, 12, 24, 16, 0), 2 * HOUR) == local(2026, 12, 29, 9, 30)


def test_lunch_break_and_outside_hours() -> None:
    assert OFFICE.add(local(2026, 11, 24, 12, 0), HOUR) == local(2026, 11, 24, 14, 0)
    assert OFFICE.add(local(2026, 11, 24, 20, 0), HOUR) == local(2026, 11, 25, 10, 0)
    assert OFFICE.add(local(2026, 11, 28, 10, 0), HOUR) == local(2026, 11, 30, 10, 0)  # Sat


def test_daylight_saving_change_inside_a_clock() -> None:
    always = Calendar.always(timezone="Europe/London")
    start = datetime(2026, 3, 28, 12, 0, tzinfo=LONDON)  # the night before clocks go forward
    due = always.add(start, 24 * HOUR)
    assert due - start == timedelta(hours=24)  # elapsed time, not wall-clock time
    assert due.astimezone(LONDON).hour == 13  # one wall-clock hour later on the Sunday
    # Office hours on the Monday after the change are still 9:00-17:30 local.
    assert OFFICE.add(local(2026, 3, 27, 17, 0), HOUR) == local(2026, 3, 30, 9, 30)


def test_always_open_equals_wall_clock() -> None:
    always = Calendar.always()
    start = datetime(2026, 11, 24, 23, 59, tzinfo=UTC)
    assert always.add(start, 90 * 60) == start + timedelta(minutes=90)
    assert always.business_seconds(start, start + timedelta(days=3)) == 3 * 24 * HOUR


def test_add_and_measure_agree() -> None:
    rng = random.Random(20261124)
    base = local(2026, 1, 1, 0, 0)
    for _ in range(300):
        start = base + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        seconds = rng.randrange(1, 40 * 3600)
        due = OFFICE.add(start, seconds)
        assert OFFICE.business_seconds(start, due) == pytest.approx(seconds)
        assert OFFICE.add(start, 0) == start


def test_naive_datetimes_and_negative_spans_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.add(datetime(2026, 1, 1), 10)
    with pytest.raises(ValueError):
        OFFICE.add(local(2026, 1, 1, 9), -1)
    closed = Calendar("closed", LONDON, {})
    with pytest.raises(ValueError, match="no 60 s of business time"):
        closed.add(local(2026, 1, 1, 9), 60)
