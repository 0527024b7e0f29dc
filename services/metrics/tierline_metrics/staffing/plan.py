"""A staffing plan: per interval, the agents a service-level target needs, by Erlang C, or
Erlang A when callers abandon, for agents working one contact or several at once. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from tierline_shared.erlang import (
    queue_figures,
    required_agents,
    scheduled_headcount,
)

INTERVALS_MIN = (15, 30, 60)


@dataclass(frozen=True)
class Target:
    interval_minutes: int = 30
    aht_s: float = 300.0
    service_level: float | None = 0.8
    answer_within_s: float = 20.0
    asa_s: float | None = None
    max_occupancy: float = 0.85
    shrinkage: float = 0.3
    patience_s: float | None = None  # mean patience: Erlang A; None: nobody abandons
    concurrency: int = 1  # contacts an agent works at once (chat)

    def __post_init__(self) -> None:
        if self.patience_s is not None and self.patience_s <= 0:
            raise ValueError("patience_s must be > 0")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.interval_minutes not in INTERVALS_MIN:
            raise ValueError(f"interval_minutes must be one of {INTERVALS_MIN}")
        if (self.service_level is None) == (self.asa_s is None):
            raise ValueError("give exactly one of service_level or asa_s")


@dataclass(frozen=True)
class IntervalPlan:
    index: int
    volume: float
    load: float
    agents: int
    scheduled: int
    service_level: float
    asa_s: float
    occupancy: float
    probability_wait: float
    probability_abandon: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def plan_interval(index: int, volume: float, target: Target) -> IntervalPlan:
    if volume < 0:
        raise ValueError(f"interval {index}: volume must be >= 0")
    load = volume * target.aht_s / (target.interval_minutes * 60)
    agents = required_agents(load, target.aht_s, service_level=target.service_level,
                             answer_within_s=target.answer_within_s, asa_s=target.asa_s,
                             max_occupancy=target.max_occupancy,
                             patience_s=target.patience_s, concurrency=target.concurrency)
    figures = queue_figures(agents, load, target.aht_s, target.answer_within_s,
                            target.patience_s, target.concurrency)
    return IntervalPlan(index, volume, round(load, 6), agents,
                        scheduled_headcount(agents, target.shrinkage),
                        figures.service_level, figures.asa_s, figures.occupancy,
                        figures.probability_wait, figures.probability_abandon)


def plan(volumes: Iterable[float], target: Target,
         progress: Callable[[int], None] | None = None) -> list[IntervalPlan]:
    out = []
    for index, volume in enumerate(volumes):
        out.append(plan_interval(index, float(volume), target))
        if progress is not None:
            progress(1)
    return out
