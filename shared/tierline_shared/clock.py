"""Time is injected: services ask a clock, so tests can run in virtual time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class ScaledClock:
    """Wall-clock time run faster: ``speed`` simulated seconds pass per real second from
    ``start`` (the simulated time at real moment ``real_start``, Unix seconds). Every process
    given the same three values agrees on the time, so a simulation can drive the real
    services through hours of virtual time in minutes."""

    def __init__(self, start: datetime, real_start: float, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start, self.real_start, self.speed = start, real_start, speed

    def now(self) -> datetime:
        import time

        return self.start + timedelta(seconds=(time.time() - self.real_start) * self.speed)


def clock_for(speed: float, start: datetime | None, real_start: float | None) -> Clock:
    """The clock settings ask for: the system's, or a scaled one for simulations."""
    if speed == 1 and start is None:
        return SystemClock()
    import time

    return ScaledClock(start or datetime.now(UTC), real_start or time.time(), speed)
