"""What a scenario generates, before anything is sent: arrivals as a non-homogeneous Poisson
process (thinning), the roster, and the draws each ticket's story needs. Pure and seeded."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from tierline_shared.sim.scenario import Scenario


@dataclass(frozen=True)
class Arrival:
    at: datetime
    channel: str
    ticket_type: str
    category: str
    priority: str
    customer: str
    title: str
    description: str


def load_corpus(path: Path | None = None) -> list[dict[str, str]]:
    """Titles and descriptions to send: the example tickets intake's classifier learns from."""
    if path is None:  # intake's own file, found by package name: shared imports no service
        path = Path(str(files("tierline_intake") / "data" / "tickets_corpus.csv"))
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return str(keys[int(rng.choice(len(keys), p=p / p.sum()))])


def rate_per_s(scenario: Scenario, channel: str, at: datetime) -> float:
    if scenario.staffing is not None:  # the day's volumes, interval by interval
        return scenario.staffing.rate_per_s((at - scenario.start).total_seconds())
    factor = scenario.profile.get(at.hour, 1.0) if scenario.profile else 1.0
    return scenario.arrivals[channel].per_hour * factor / 3600.0  # type: ignore[index]


def arrivals(scenario: Scenario, corpus: list[dict[str, str]]) -> list[Arrival]:
    """Every arrival of the scenario, in time order, the same for the same seed."""
    rng = np.random.default_rng(scenario.seed)
    horizon = scenario.duration_minutes * 60
    peak = max(scenario.profile.values(), default=1.0) if scenario.profile else 1.0
    if scenario.staffing is not None:  # thinning from the busiest interval's rate
        peak = max(scenario.staffing.volumes) / (scenario.staffing.interval_minutes * 60) / (
            next(iter(scenario.arrivals.values())).per_hour / 3600)
    by_kind: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in corpus:
        by_kind.setdefault((row["type"], row["category"]), []).append(row)
    out: list[Arrival] = []
    for channel in scenario.arrivals:
        top = scenario.arrivals[channel].per_hour * peak / 3600.0
        t = 0.0
        while True:
            t += float(rng.exponential(1 / top))
            if t >= horizon:
                break
            at = scenario.start + timedelta(seconds=t)
            if rng.random() * top > rate_per_s(scenario, channel, at):
                continue  # thinned: the profile is below its peak here
            kind = _pick(rng, dict(scenario.mix.types))
            category = _pick(rng, dict(scenario.mix.categories))
            rows = by_kind.get((kind, category)) or [r for r in corpus
                                                     if r["category"] == category]
            row = rows[int(rng.integers(len(rows)))]
            out.append(Arrival(at=at, channel=channel, ticket_type=kind, category=category,
                               priority=_pick(rng, dict(scenario.mix.priorities)),
                               customer=f"sim-u{int(rng.integers(scenario.customers))}",
                               title=row["title"], description=row["description"]))
    return sorted(out, key=lambda a: a.at)


def roster(scenario: Scenario) -> dict[str, dict[str, Any]]:
    agents: dict[str, dict[str, Any]] = {}
    for group in scenario.agents:
        for n in range(group.count):
            body: dict[str, Any] = {"name": f"{group.name} {n}", "tier": group.tier,
                                    "skills": dict(group.skills),
                                    "channels": dict(group.channels), "team": group.name}
            if group.max_total is not None:
                body["max_total"] = group.max_total
            agents[f"sim-{group.name}-{n}"] = body
    return agents


class Draws:
    """The random parts of each ticket's story, from one seeded generator."""

    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.rng = np.random.default_rng(scenario.seed + 1)

    def handle_seconds(self, tier: int) -> float:
        h = self.s.handle_time[tier]
        if h.distribution == "exponential":
            return float(self.rng.exponential(h.mean_s))
        assert h.median_minutes is not None
        return float(h.median_minutes * 60 * math.exp(h.sigma * self.rng.standard_normal()))

    def escalates(self, tier: int) -> bool:
        """Whether the agent passes the ticket up a tier (only if the roster has one)."""
        top = max((g.tier for g in self.s.agents if g.count > 0), default=1)
        return tier < top and bool(self.rng.random() < self.s.outcomes.escalation)

    def patience_seconds(self) -> float | None:
        mean = self.s.outcomes.patience_minutes
        return None if mean is None else float(self.rng.exponential(mean * 60))

    def reopens(self) -> bool:
        return bool(self.rng.random() < self.s.outcomes.reopen)

    def csat(self, waited_s: float, escalated: bool, reopened: bool) -> int | None:
        c = self.s.outcomes.csat
        if self.rng.random() >= c.answer_rate:
            return None
        score = (c.base - c.per_wait_minute * waited_s / 60 - (c.escalated if escalated else 0)
                 - (c.reopened if reopened else 0) + c.noise * self.rng.standard_normal())
        return int(min(5, max(1, round(score))))
