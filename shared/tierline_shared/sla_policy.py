"""SLA policy file: calendars and targets; due times in business time. Shared: sla runs its
clocks on it, and metrics counts resolution times in the same business hours."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierline_shared.calendar import WEEKDAYS, Calendar
from tierline_shared.policy import known_timezone, load_policy

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

    _zone = field_validator("timezone")(known_timezone)

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

CLOCKS = ("first_response", "resolution", "update")
STATUSES = ("new", "acknowledged", "in_progress", "pending_customer", "resolved", "closed",
            "reopened")
DEFAULT_PROFILE = "default"


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_response: float = Field(gt=0, description="minutes of business time (decimals "
                                  "allowed: 0.5 is 30 seconds)")
    resolution: float = Field(gt=0, description="minutes of business time")
    update: float = Field(gt=0, description="minutes of business time between public updates "
                          "while the work is open (the next-response clock)")
    calendar: str = "24x7"


class Match(BaseModel):
    """Which tickets a profile applies to; every field given must match, a list means any."""

    model_config = ConfigDict(extra="forbid")
    ticket_type: list[Literal["incident", "service_request"]] | None = None
    channel: list[str] | None = None
    plan: list[str] | None = None

    def matches(self, ticket_type: str, channel: str, plan: str | None) -> bool:
        return ((self.ticket_type is None or ticket_type in self.ticket_type)
                and (self.channel is None or channel in self.channel)
                and (self.plan is None or plan in self.plan))


class Profile(BaseModel):
    """Targets and clock rules for a kind of ticket (type, channel, plan); what it leaves
    out comes from the top level of the file."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    match: Match
    targets: dict[str, Target] = Field(default_factory=dict)
    warnings: list[int] | None = None
    pause_statuses: list[str] | None = None
    start: Literal["logged", "reported"] | None = None


def _check_warnings(value: list[int] | None) -> list[int] | None:
    if value is not None:
        if any(not 0 < w < 100 for w in value):
            raise ValueError("warning thresholds are percentages of the target, between 0 and "
                             "100 (the breach is 100)")
        return sorted(set(value))
    return value


def _check_statuses(value: list[str] | None) -> list[str] | None:
    if value is not None:
        unknown = [s for s in value if s not in STATUSES]
        if unknown or set(value) & {"new", "resolved", "closed"}:
            raise ValueError(f"pause statuses must be among acknowledged, in_progress, "
                             f"pending_customer, reopened; got {value}")
    return value


class SlaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    warnings: list[int] = Field(default_factory=lambda: [50, 75],
                                description="percent of the target; the breach is at 100")
    pause_statuses: list[str] = Field(default_factory=lambda: ["pending_customer"])
    start: Literal["logged", "reported"] = Field(
        default="logged", description="reported: the resolution clock starts at the reported "
        "start of the problem when the requester gives one")
    calendars: dict[str, CalendarPolicy] = Field(
        default_factory=lambda: {"24x7": CalendarPolicy(timezone="UTC", always=True)})
    targets: dict[str, Target]
    profiles: list[Profile] = Field(default_factory=list)

    @field_validator("warnings")
    @classmethod
    def _warnings(cls, value: list[int]) -> list[int]:
        return _check_warnings(value) or []

    @field_validator("pause_statuses")
    @classmethod
    def _pauses(cls, value: list[str]) -> list[str]:
        return _check_statuses(value) or []

    @model_validator(mode="after")
    def _all_priorities(self) -> SlaPolicy:
        missing = [p for p in ("P1", "P2", "P3", "P4", "P5") if p not in self.targets]
        if missing:
            raise ValueError(f"targets missing for {', '.join(missing)}")
        names = [DEFAULT_PROFILE]
        for profile in self.profiles:
            if profile.name in names:
                raise ValueError(f"profile name {profile.name!r} is used twice")
            names.append(profile.name)
            unknown_p = sorted(set(profile.targets) - set(self.targets))
            if unknown_p:
                raise ValueError(f"profile {profile.name!r} names unknown priorities {unknown_p}")
            try:
                _check_warnings(profile.warnings)
                _check_statuses(profile.pause_statuses)
            except ValueError as exc:
                raise ValueError(f"profile {profile.name!r}: {exc}") from None
        used = {t.calendar for t in self.targets.values()} | {
            t.calendar for p in self.profiles for t in p.targets.values()}
        unknown = sorted(used - set(self.calendars))
        if unknown:
            raise ValueError(f"targets name calendars {unknown} that are not defined")
        return self

    @cached_property
    def _built(self) -> dict[str, Calendar]:
        return {name: cal.build(name) for name, cal in self.calendars.items()}

    @cached_property
    def _profiles(self) -> dict[str, Profile]:
        return {p.name: p for p in self.profiles}

    def profile_for(self, ticket_type: str, channel: str, plan: str | None) -> str:
        """The first profile whose match fits the ticket, else the default."""
        for profile in self.profiles:
            if profile.match.matches(ticket_type, channel, plan):
                return profile.name
        return DEFAULT_PROFILE

    def target(self, priority: str, profile: str = DEFAULT_PROFILE) -> Target:
        chosen = self._profiles.get(profile)
        if chosen is not None and priority in chosen.targets:
            return chosen.targets[priority]
        return self.targets[priority]

    def calendar_for(self, priority: str, profile: str = DEFAULT_PROFILE) -> Calendar:
        return self._built[self.target(priority, profile).calendar]

    def warnings_for(self, profile: str = DEFAULT_PROFILE) -> list[int]:
        chosen = self._profiles.get(profile)
        return chosen.warnings if chosen and chosen.warnings is not None else self.warnings

    def pauses_for(self, profile: str = DEFAULT_PROFILE) -> list[str]:
        chosen = self._profiles.get(profile)
        if chosen and chosen.pause_statuses is not None:
            return chosen.pause_statuses
        return self.pause_statuses

    def start_for(self, profile: str = DEFAULT_PROFILE) -> str:
        chosen = self._profiles.get(profile)
        return chosen.start if chosen and chosen.start is not None else self.start

    def due(self, priority: str, clock: str, started_at: datetime,
            profile: str = DEFAULT_PROFILE) -> tuple[datetime, int]:
        """Due time after the target's business minutes on the priority's calendar."""
        seconds = round(getattr(self.target(priority, profile), clock) * 60)
        return self.calendar_for(priority, profile).add(started_at, seconds), seconds


def load_sla_policy(policy_dir: Path) -> SlaPolicy:
    return load_policy(policy_dir / "sla.yaml", SlaPolicy)
