"""Choosing an agent: pure, explainable, no I/O.

Among agents who are available, speak the ticket's language, have free capacity on its
channel and in total, are within the tiers the rule allows and meet every required skill
level, prefer the lowest tier, then the best skill fit, then the least loaded, then the one
idle longest. Handle time plays no part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

GENERALIST_SKILL = "general"


@dataclass(frozen=True)
class AgentView:
    id: str
    tier: int
    skills: Mapping[str, int]
    channels: Mapping[str, int]
    max_total: int
    presence: str
    languages: tuple[str, ...] = ("en",)
    team: str | None = None
    active_by_channel: Mapping[str, int] = field(default_factory=dict)
    last_assigned_at: datetime | None = None

    @property
    def active_total(self) -> int:
        return sum(self.active_by_channel.values())

    def free_on(self, channel: str) -> bool:
        return (self.active_by_channel.get(channel, 0) < self.channels.get(channel, 0)
                and self.active_total < self.max_total)


@dataclass(frozen=True)
class Need:
    """What a ticket needs from its agent, after its rule, escalation and expansion."""

    skills: Mapping[str, int]
    channel: str
    min_tier: int = 1
    max_tier: int = 3
    language: str | None = None
    generalist_ok: bool = True
    excluded: frozenset[str] = frozenset()
    rule: str = "default"
    queue: str = "default"
    widened: tuple[str, ...] = ()

    @property
    def primary_skill(self) -> str:
        return next(iter(self.skills))

    def describe(self) -> str:
        skills = ", ".join(f"{k}>={v}" for k, v in self.skills.items())
        tiers = (f"tier {self.min_tier}" if self.min_tier == self.max_tier
                 else f"tiers {self.min_tier}-{self.max_tier}")
        return f"rule {self.rule!r}: {skills} on {self.channel}, {tiers}"


@dataclass(frozen=True)
class Decision:
    agent: AgentView | None
    need: Need
    considered: list[str]
    passed_over: dict[str, str]

    def reasons(self) -> dict[str, object]:
        return {"rule": self.need.describe(), "queue": self.need.queue,
                "widened": list(self.need.widened), "considered": self.considered,
                "passed_over": self.passed_over,
                "chosen": self.agent.id if self.agent else None,
                "order": "lowest tier, then best skill, then least loaded, then idle longest"}


def skill_fit(agent: AgentView, need: Need) -> int | None:
    """Sum of the agent's levels in the required skills, or None if one is short."""
    total = 0
    for skill, level in need.skills.items():
        have = agent.skills.get(skill, 0)
        if have < level and need.generalist_ok:
            have = max(have, agent.skills.get(GENERALIST_SKILL, 0))
        if have < level:
            return None
        total += have
    return total


def _skill_gap(agent: AgentView, need: Need) -> str:
    for skill, level in need.skills.items():
        have = agent.skills.get(skill, 0)
        general = agent.skills.get(GENERALIST_SKILL, 0) if need.generalist_ok else 0
        if max(have, general) < level:
            if have == 0 and general == 0:
                alt = f" or {GENERALIST_SKILL!r}" if need.generalist_ok else ""
                return f"no skill {skill!r}{alt}"
            return f"skill {skill!r} level {max(have, general)} below {level}"
    return "skills short"


def why_not(agent: AgentView, need: Need) -> str | None:
    """Why the agent cannot take the work now, or None if they can."""
    if agent.id in need.excluded:
        return "declined this ticket"
    if agent.presence != "available":
        return f"presence is {agent.presence}"
    if agent.tier < need.min_tier:
        return f"tier {agent.tier} below required {need.min_tier}"
    if agent.tier > need.max_tier:
        return f"tier {agent.tier} above the rule's {need.max_tier} (lowest sufficient tier)"
    if need.language and need.language not in agent.languages:
        return f"does not speak {need.language!r}"
    if skill_fit(agent, need) is None:
        return _skill_gap(agent, need)
    capacity = agent.channels.get(need.channel, 0)
    if capacity == 0:
        return f"does not work the {need.channel} channel"
    if agent.active_by_channel.get(need.channel, 0) >= capacity:
        return f"{need.channel} capacity {capacity} full"
    if agent.active_total >= agent.max_total:
        return f"total capacity {agent.max_total} full"
    return None


def rank_key(agent: AgentView, need: Need) -> tuple[object, ...]:
    return (agent.tier, -(skill_fit(agent, need) or 0), agent.active_total / agent.max_total,
            agent.last_assigned_at.timestamp() if agent.last_assigned_at else float("-inf"),
            agent.id)


def choose(need: Need, agents: Iterable[AgentView]) -> Decision:
    passed_over: dict[str, str] = {}
    eligible: list[AgentView] = []
    considered: list[str] = []
    for agent in agents:
        considered.append(agent.id)
        reason = why_not(agent, need)
        if reason is None:
            eligible.append(agent)
        else:
            passed_over[agent.id] = reason
    if not eligible:
        return Decision(None, need, considered, passed_over)
    ranked = sorted(eligible, key=lambda a: rank_key(a, need))
    best = ranked[0]
    for other in ranked[1:]:
        passed_over[other.id] = _ranked_below(other, best, need)
    return Decision(best, need, considered, passed_over)


def _ranked_below(other: AgentView, best: AgentView, need: Need) -> str:
    if other.tier != best.tier:
        return f"higher tier {other.tier} than {best.tier}"
    if skill_fit(other, need) != skill_fit(best, need):
        return f"lower skill fit {skill_fit(other, need)} than {skill_fit(best, need)}"
    if other.active_total / other.max_total != best.active_total / best.max_total:
        return f"more loaded ({other.active_total}/{other.max_total})"
    return "assigned more recently"
