"""SLA policy file: calendars and targets; due times in business time."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierline_shared.policy import load_policy
from tierline_sla.calendar import WEEKDAYS, Calendar

PERIOD = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def _period(text: str) -> tuple[time, time | None]:
    match = PERIOD.match(text)
    if match is None:
        raise ValueError(f"period {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h2, m2) == (24, 0):
        end = None
    else:
        end = time(h2, m2)
    start = time(h1, m1)
    if end is not None and end <= start:
        raise ValueError(f"period {text!r} ends before it starts")
    return start, end


class CalendarPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str
    always: bool = False
    hours: dict[str, list[str]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, periods in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
            for period in periods:
                _period(period)
        return value

    @model_validator(mode="after")
    def _something_open(self) -> CalendarPolicy:
        if not self.always and not any(self.hours.values()):
            raise ValueError("a calendar needs always: true or some open hours")
        return self

    def build(self, name: str) -> Calendar:
        if self.always:
            calendar = Calendar.always(name, self.timezone)
            return Calendar(name, calendar.timezone, calendar.hours, frozenset(self.holidays))
        return Calendar(name, ZoneInfo(self.timezone), {
            WEEKDAYS.index(day): tuple(_period(p) for p in periods)
            for day, periods in self.hours.items()}, frozenset(self.holidays))

CLOCKS = ("first_response", "resolution")


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_response: int = Field(gt=0, description="minutes of business time")
    resolution: int = Field(gt=0, description="minutes of business time")
    calendar: str = "24x7"


class SlaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    calendars: dict[str, CalendarPolicy] = Field(
        default_factory=lambda: {"24x7": CalendarPolicy(timezone="UTC", always=True)})
    targets: dict[str, Target]

    @model_validator(mode="after")
    def _all_priorities(self) -> SlaPolicy:
        missing = [p for p in ("P1", "P2", "P3", "P4", "P5") if p not in self.targets]
        if missing:
            raise ValueError(f"targets missing for {', '.join(missing)}")
        unknown = sorted({t.calendar for t in self.targets.values()} - set(self.calendars))
        if unknown:
            raise ValueError(f"targets name calendars {unknown} that are not defined")
        return self

    @cached_property
    def _built(self) -> dict[str, Calendar]:
        return {name: cal.build(name) for name, cal in self.calendars.items()}

    def calendar_for(self, priority: str) -> Calendar:
        return self._built[self.targets[priority].calendar]

    def due(self, priority: str, clock: str, started_at: datetime) -> tuple[datetime, int]:
        """Due time after the target's business minutes on the priority's calendar."""
        minutes = getattr(self.targets[priority], clock)
        return self.calendar_for(priority).add(started_at, minutes * 60), minutes * 60


def load_sla_policy(policy_dir: Path) -> SlaPolicy:
    return load_policy(policy_dir / "sla.yaml", SlaPolicy)
