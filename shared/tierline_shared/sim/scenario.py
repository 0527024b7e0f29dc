"""Scenario files: arrivals, mix, agents, handle times and outcomes. Validated with errors
that name the file, the line and the field."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierline_shared.policy import load_policy

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
Channel = Literal["phone", "email", "chat", "portal", "ivr", "api"]
Priority = Literal["P1", "P2", "P3", "P4", "P5"]


def _weights(value: dict[str, float]) -> dict[str, float]:
    if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    return value


class Arrivals(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_hour: float = Field(gt=0, le=100_000)


class Mix(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: dict[Literal["network", "software", "hardware", "access"], float] = Field(
        default_factory=lambda: {"network": 1.0, "software": 1.0, "hardware": 1.0,
                                 "access": 1.0})
    types: dict[Literal["incident", "service_request"], float] = Field(
        default_factory=lambda: {"incident": 0.7, "service_request": 0.3})
    priorities: dict[Priority, float] = Field(
        default_factory=lambda: {"P2": 0.1, "P3": 0.5, "P4": 0.4})
    _check = field_validator("categories", "types", "priorities")(_weights)


class AgentGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9-]{1,20}$")
    count: int = Field(ge=0, le=500)
    tier: int = Field(ge=1, le=3)
    skills: dict[str, int] = Field(min_length=1)
    channels: dict[Channel, int] = Field(min_length=1)
    max_total: int | None = Field(default=None, ge=1)


class HandleTime(BaseModel):
    """Lognormal (the default): the median and the sigma of the underlying normal. Or
    exponential, by its mean: the handle times Erlang C assumes."""

    model_config = ConfigDict(extra="forbid")
    distribution: Literal["lognormal", "exponential"] = "lognormal"
    median_minutes: float | None = Field(default=None, gt=0, le=24 * 60)
    sigma: float = Field(default=0.5, ge=0, le=3)
    mean_minutes: float | None = Field(default=None, gt=0, le=24 * 60)

    @model_validator(mode="after")
    def _parameters(self) -> HandleTime:
        if self.distribution == "lognormal" and self.median_minutes is None:
            raise ValueError("a lognormal handle time needs median_minutes")
        if self.distribution == "exponential" and self.mean_minutes is None:
            raise ValueError("an exponential handle time needs mean_minutes")
        return self

    @property
    def mean_s(self) -> float:
        if self.distribution == "exponential":
            assert self.mean_minutes is not None
            return self.mean_minutes * 60
        assert self.median_minutes is not None
        return self.median_minutes * 60 * math.exp(self.sigma ** 2 / 2)


class Csat(BaseModel):
    """Score 1-5: ``base``, less ``per_wait_minute`` for each minute waited, less a penalty
    for an escalation or a reopen, plus noise; rounded and clipped."""

    model_config = ConfigDict(extra="forbid")
    base: float = Field(default=4.6, ge=1, le=5)
    per_wait_minute: float = Field(default=0.02, ge=0)
    escalated: float = Field(default=0.5, ge=0)
    reopened: float = Field(default=1.0, ge=0)
    noise: float = Field(default=0.5, ge=0)
    answer_rate: float = Field(default=0.4, ge=0, le=1)


class Outcomes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    escalation: float = Field(default=0.12, ge=0, le=1, description="chance an agent below "
                              "the roster's top tier passes the ticket up a tier instead of "
                              "resolving it")
    reopen: float = Field(default=0.05, ge=0, le=1)
    accept_after_seconds: float = Field(default=5, ge=0, le=3600)
    patience_minutes: float | None = Field(default=None, gt=0, le=24 * 60, description="mean "
                                           "of an exponential patience: a customer whose "
                                           "ticket no agent was offered by then withdraws it "
                                           "(resolved as abandoned); none: nobody abandons")
    confirm_after_minutes: float = Field(default=10, ge=0, le=24 * 60, description="how long "
                                         "a customer takes to confirm a fix (or reopen)")
    csat: Csat = Field(default_factory=Csat)


class Theory(BaseModel):
    """Compare the run with queueing theory (Erlang C): the scenario must be homogeneous (one
    agent group, one channel of capacity 1 or more, exponential handle times, no
    escalation, no reopen). Tickets arriving in the first ``warmup_minutes`` are left out;
    the rest are cut into ``batches`` for the confidence intervals."""

    model_config = ConfigDict(extra="forbid")
    warmup_minutes: float = Field(default=30, ge=0)
    batches: int = Field(default=20, ge=5, le=200)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)


class Reference(BaseModel):
    """Compare each queue's (category's) service level with the same rules run in memory
    (``tierline_shared.sim.reference``): ``replications`` runs of the scenario's length.
    Agent groups may differ in skills; one channel, one priority, one ticket type, no
    escalation or reopen, no hour-of-day profile."""

    model_config = ConfigDict(extra="forbid")
    warmup_minutes: float = Field(default=30, ge=0)
    batches: int = Field(default=10, ge=5, le=200)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    replications: int = Field(default=100, ge=10, le=2000)


class Staffing(BaseModel):
    """A staffing round trip: the day's volume per interval goes to metrics'
    ``POST /v1/staffing/plan`` (Erlang C, no shrinkage), arrivals follow those volumes, and
    the one agent group is on shift per interval as the plan says (the rest away; an agent
    going off shift finishes what they hold). The scenario must be homogeneous, as for
    ``theory``, and last ``len(volumes) x interval_minutes``."""

    model_config = ConfigDict(extra="forbid")
    interval_minutes: Literal[15, 30, 60] = 30
    volumes: list[Annotated[float, Field(ge=0, le=100_000)]] = Field(min_length=1,
                                                                     max_length=96)
    service_level: float = Field(default=0.8, gt=0, lt=1)
    max_occupancy: float = Field(default=0.95, gt=0, le=1)
    replications: int = Field(default=100, ge=20, le=2000, description="in-memory runs of "
                              "the same day for the range each interval's share falls in")

    @field_validator("volumes")
    @classmethod
    def _some(cls, value: list[float]) -> list[float]:
        if not any(value):
            raise ValueError("volumes are all zero: nothing to plan")
        return value

    def rate_per_s(self, offset_s: float) -> float:
        index = min(int(offset_s // (self.interval_minutes * 60)), len(self.volumes) - 1)
        return self.volumes[index] / (self.interval_minutes * 60)


class Variant(BaseModel):
    """Another run of the same arrivals with different headcounts per agent group."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    agents: dict[str, int]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1]
    name: str = Field(pattern=r"^[a-z0-9-]{1,60}$")
    description: str = ""
    start: datetime = Field(default_factory=lambda: datetime(2026, 11, 23, 9, tzinfo=UTC))
    duration_minutes: float = Field(gt=0, le=7 * 24 * 60)
    drain_minutes: float = Field(default=60, ge=0, le=24 * 60)
    speed: float = Field(default=1, gt=0, le=10000,
                         description="simulated seconds per real second")
    seed: int = 1
    customers: int = Field(default=500, ge=1)
    service_level_seconds: float = Field(default=120, gt=0)
    arrivals: dict[Channel, Arrivals] = Field(min_length=1)
    profile: dict[int, float] = Field(default_factory=dict, description="hour of day (0-23) "
                                      "-> multiplier of every channel's rate")
    mix: Mix = Field(default_factory=Mix)
    agents: list[AgentGroup] = Field(min_length=1)
    handle_time: dict[int, HandleTime] = Field(description="per tier")
    outcomes: Outcomes = Field(default_factory=Outcomes)
    compare: list[Variant] = Field(default_factory=list)
    theory: Theory | None = None
    staffing: Staffing | None = None
    reference: Reference | None = None

    @field_validator("profile")
    @classmethod
    def _hours(cls, value: dict[int, float]) -> dict[int, float]:
        for hour, factor in value.items():
            if not 0 <= hour <= 23 or factor < 0:
                raise ValueError(f"hour {hour}: hours are 0-23 and multipliers >= 0")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [g.name for g in self.agents]
        if len(set(names)) != len(names):
            raise ValueError("agent group names must be unique")
        missing = sorted({g.tier for g in self.agents} - set(self.handle_time))
        if missing:
            raise ValueError(f"handle_time has no entry for tier(s) {missing}")
        for variant in self.compare:
            unknown = sorted(set(variant.agents) - set(names))
            if unknown:
                raise ValueError(f"compare {variant.name!r}: unknown agent groups {unknown}")
        if self.start.tzinfo is None:
            raise ValueError("start needs a timezone, e.g. 2026-11-23T09:00:00Z")
        if self.theory is not None or self.staffing is not None:
            self._homogeneous()
        if self.reference is not None:
            self._reproducible()
        if self.staffing is not None:
            day = len(self.staffing.volumes) * self.staffing.interval_minutes
            if self.duration_minutes != day:
                raise ValueError(f"staffing: duration_minutes must be {day}, the volumes' "
                                 "intervals end to end")
            if self.compare:
                raise ValueError("staffing: the plan sets the agents, so no compare")
        return self

    @property
    def exact(self) -> bool:
        """Whether tickets go out with their category and type given, not inferred: the
        comparisons with theory and with the reference need the rules to see the mix."""
        return any(x is not None for x in (self.theory, self.staffing, self.reference))

    def _reproducible(self) -> None:
        why = []
        if len(self.arrivals) != 1:
            why.append("one arrival channel")
        if len(self.mix.priorities) != 1 or len(self.mix.types) != 1:
            why.append("one priority and one ticket type")
        if self.outcomes.escalation or self.outcomes.reopen:
            why.append("no escalation and no reopen")
        if self.profile:
            why.append("no hour-of-day profile")
        if why:
            raise ValueError("reference needs " + ", ".join(why))

    def _homogeneous(self) -> None:
        why = []
        if len(self.agents) != 1:
            why.append("one agent group")
        if len(self.arrivals) != 1:
            why.append("one arrival channel")
        elif any(set(g.channels) != set(self.arrivals) for g in self.agents):
            why.append("agents working only the arrival channel")
        if any(h.distribution != "exponential" for h in self.handle_time.values()):
            why.append("exponential handle times")
        if self.outcomes.escalation or self.outcomes.reopen:
            why.append("no escalation and no reopen")
        if len(self.mix.priorities) != 1:
            why.append("one priority")
        if self.profile:
            why.append("no hour-of-day profile")
        if why:
            raise ValueError("theory needs a homogeneous scenario: " + ", ".join(why))

    def variant(self, variant: Variant) -> Scenario:
        groups = [g.model_copy(update={"count": variant.agents.get(g.name, g.count)})
                  for g in self.agents]
        return self.model_copy(update={"name": variant.name, "agents": groups, "compare": []})


def load_scenario(path: Path) -> Scenario:
    if not path.exists() and (SCENARIOS / path.name).exists():
        path = SCENARIOS / path.name
    return load_policy(path, Scenario)
