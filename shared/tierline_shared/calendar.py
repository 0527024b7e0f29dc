"""Business calendars: working hours per weekday in a timezone, breaks, holidays, or 24x7.
Pure arithmetic of business time, right across weekends, holidays and daylight-saving
changes (hours are local wall-clock times; instants are timezone-aware)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 3 * 366  # how far ahead a due time is searched before giving up


@dataclass(frozen=True)
class Calendar:
    name: str
    timezone: ZoneInfo
    # Per weekday (0 = Monday), the open periods as (start, end) local times; an end of
    # None means midnight at the end of the day.
    hours: dict[int, tuple[tuple[time, time | None], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def always(cls, name: str = "24x7", timezone: str = "UTC") -> Calendar:
        whole_day = ((time(0), None),)
        return cls(name, ZoneInfo(timezone), {d: whole_day for d in range(7)})

    def _periods(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if day in self.holidays:
            return
        for start, end in self.hours.get(day.weekday(), ()):
            opens = datetime.combine(day, start, tzinfo=self.timezone)
            closes = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.timezone)
                      if end is None else datetime.combine(day, end, tzinfo=self.timezone))
            # Compare in UTC: local wall times across a DST change are not ordered as such.
            yield opens.astimezone(ZoneInfo("UTC")), closes.astimezone(ZoneInfo("UTC"))

    def open_periods(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open periods within [start, end), clipped, in time order."""
        _aware(start)
        _aware(end)
        day = start.astimezone(self.timezone).date() - timedelta(days=1)
        last = end.astimezone(self.timezone).date()
        while day <= last:
            for opens, closes in self._periods(day):
                lo, hi = max(opens, start), min(closes, end)
                if lo < hi:
                    yield lo, hi
            day += timedelta(days=1)

    def business_seconds(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        return sum((hi - lo).total_seconds() for lo, hi in self.open_periods(start, end))

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of business time have passed since ``start``."""
        _aware(start)
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        if seconds == 0:
            return start
        remaining = seconds
        day = start.astimezone(self.timezone).date() - timedelta(days=1)
        for _ in range(MAX_DAYS):
            for opens, closes in self._periods(day):
                lo = max(opens, start)
                if lo >= closes:
                    continue
                available = (closes - lo).total_seconds()
                if remaining <= available:
                    return lo + timedelta(seconds=remaining)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError(f"calendar {self.name}: no {seconds} s of business time within "
                         f"{MAX_DAYS} days of {start.isoformat()}")


def _aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError("business time needs timezone-aware datetimes")
