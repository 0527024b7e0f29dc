"""Choosing an agent: pure, explainable, no I/O.

Among agents who are available, have free capacity on the ticket's channel and in total,
and have the skill, prefer the lowest sufficient tier, then the best skill fit, then the
least loaded, then the one idle longest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

GENERALIST_SKILL = "general"


@dataclass(frozen=True)
class AgentView:
    id: str
    tier: int
    skills: dict[str, int]
    channels: dict[str, int]
    max_total: int
    presence: str
    active_by_channel: dict[str, int] = field(default_factory=dict)
    last_assigned_at: datetime | None = None

    @property
    def active_total(self) -> int:
        return sum(self.active_by_channel.values())


TRIAGE_SKILL = "triage"


@dataclass(frozen=True)
class Need:
    category: str
    channel: str
    min_tier: int = 1
    generalist_ok: bool = True

    @classmethod
    def triage(cls, channel: str) -> Need:
        """Low-confidence tickets go to people with the triage skill, not to a guess."""
        return cls(category=TRIAGE_SKILL, channel=channel, generalist_ok=False)


@dataclass(frozen=True)
class Decision:
    agent: AgentView | None
    rule: str
    considered: list[str]
    passed_over: dict[str, str]

    def reasons(self) -> dict[str, object]:
        return {"rule": self.rule, "considered": self.considered,
                "passed_over": self.passed_over,
                "chosen": self.agent.id if self.agent else None}


def skill_level(agent: AgentView, need: Need) -> int:
    if need.category in agent.skills:
        return agent.skills[need.category]
    return agent.skills.get(GENERALIST_SKILL, 0) if need.generalist_ok else 0


def why_not(agent: AgentView, need: Need) -> str | None:
    if agent.presence != "available":
        return f"presence is {agent.presence}"
    if agent.tier < need.min_tier:
        return f"tier {agent.tier} below required {need.min_tier}"
    if skill_level(agent, need) == 0:
        if not need.generalist_ok:
            return f"no skill {need.category!r}"
        return f"no skill {need.category!r} or {GENERALIST_SKILL!r}"
    capacity = agent.channels.get(need.channel, 0)
    if capacity == 0:
        return f"does not work the {need.channel} channel"
    if agent.active_by_channel.get(need.channel, 0) >= capacity:
        return f"{need.channel} capacity {capacity} full"
    if agent.active_total >= agent.max_total:
        return f"total capacity {agent.max_total} full"
    return None


def choose(need: Need, agents: list[AgentView]) -> Decision:
    passed_over: dict[str, str] = {}
    eligible: list[AgentView] = []
    for agent in agents:
        reason = why_not(agent, need)
        if reason is None:
            eligible.append(agent)
        else:
            passed_over[agent.id] = reason
    considered = [agent.id for agent in agents]
    if not eligible:
        return Decision(None, "no eligible agent", considered, passed_over)
    ranked = sorted(eligible, key=lambda a: (
        a.tier, -skill_level(a, need), a.active_total / a.max_total,
        a.last_assigned_at.timestamp() if a.last_assigned_at else float("-inf"),
        a.id))
    best = ranked[0]
    for other in ranked[1:]:
        passed_over[other.id] = _ranked_below(other, best, need)
    rule = (f"lowest tier with skill {need.category!r} on {need.channel}, "
            "then best skill, then least loaded, then idle longest")
    return Decision(best, rule, considered, passed_over)


def _ranked_below(other: AgentView, best: AgentView, need: Need) -> str:
    if other.tier != best.tier:
        return f"higher tier {other.tier} than {best.tier}"
    if skill_level(other, need) != skill_level(best, need):
        return f"lower skill {skill_level(other, need)} than {skill_level(best, need)}"
    if other.active_total / other.max_total != best.active_total / best.max_total:
        return f"more loaded ({other.active_total}/{other.max_total})"
    return "assigned more recently"
