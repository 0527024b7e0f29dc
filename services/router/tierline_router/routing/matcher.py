"""Choosing an agent: pure, explainable, no I/O.

Among agents who are available, speak the ticket's language, have free capacity on its
channel and in total, are within the tiers the rule allows and meet every required skill
level, prefer the lowest tier, then the best skill fit, then the least loaded, then the one
idle longest. Handle time plays no part.
"""

from __future__ import annotations

from collections import Counter
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


ALTERNATIVES = 3  # runners-up a decision's reasons name, each with why it lost
RANKED_BELOW = "ranked_below"  # could take the work, but another agent ranked higher


@dataclass(frozen=True)
class Decision:
    agent: AgentView | None
    need: Need
    considered: list[str]
    passed_over: dict[str, str]  # agent -> why not chosen: ineligible first, then by rank
    kinds: dict[str, str] = field(default_factory=dict)  # agent -> the kind of that reason

    def passed_over_counts(self) -> dict[str, int]:
        """How many candidates were passed over, per kind of reason."""
        return dict(sorted(Counter(self.kinds.get(a, "other") for a in self.passed_over)
                           .items()))

    def alternatives(self) -> list[dict[str, str]]:
        """The best runners-up and why each lost: those ranked below the chosen agent first,
        in rank order, then those who could not take the work."""
        ranked = [a for a in self.passed_over if self.kinds.get(a) == RANKED_BELOW]
        unable = [a for a in self.passed_over if self.kinds.get(a) != RANKED_BELOW]
        return [{"agent": a, "lost": self.passed_over[a]}
                for a in (ranked + unable)[:ALTERNATIVES]]

    def reasons(self) -> dict[str, object]:
        """What a decision records: the rule, the chosen agent, the top runners-up with why
        each lost and how many candidates were passed over per reason (not one line per
        candidate: a decision among 64 used to write some 4 KB)."""
        return {"rule": self.need.describe(), "queue": self.need.queue,
                "widened": list(self.need.widened), "considered": len(self.considered),
                "chosen": self.agent.id if self.agent else None,
                "alternatives": self.alternatives(),
                "passed_over": self.passed_over_counts(),
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
    found = why_not_kind(agent, need)
    return None if found is None else found[1]


def why_not_kind(agent: AgentView, need: Need) -> tuple[str, str] | None:
    """The kind of reason the agent cannot take the work now and the reason itself, or
    None if they can."""
    if agent.id in need.excluded:
        return "declined", "declined this ticket"
    if agent.presence != "available":
        return "presence", f"presence is {agent.presence}"
    if agent.tier < need.min_tier:
        return "tier_below", f"tier {agent.tier} below required {need.min_tier}"
    if agent.tier > need.max_tier:
        return "tier_above", (f"tier {agent.tier} above the rule's {need.max_tier} "
                              "(lowest sufficient tier)")
    if need.language and need.language not in agent.languages:
        return "language", f"does not speak {need.language!r}"
    if skill_fit(agent, need) is None:
        return "skill", _skill_gap(agent, need)
    capacity = agent.channels.get(need.channel, 0)
    if capacity == 0:
        return "channel", f"does not work the {need.channel} channel"
    if agent.active_by_channel.get(need.channel, 0) >= capacity:
        return "channel_full", f"{need.channel} capacity {capacity} full"
    if agent.active_total >= agent.max_total:
        return "total_full", f"total capacity {agent.max_total} full"
    return None


def rank_key(agent: AgentView, need: Need) -> tuple[object, ...]:
    return (agent.tier, -(skill_fit(agent, need) or 0), agent.active_total / agent.max_total,
            agent.last_assigned_at.timestamp() if agent.last_assigned_at else float("-inf"),
            agent.id)


def choose(need: Need, agents: Iterable[AgentView]) -> Decision:
    passed_over: dict[str, str] = {}
    kinds: dict[str, str] = {}
    eligible: list[AgentView] = []
    considered: list[str] = []
    for agent in agents:
        considered.append(agent.id)
        found = why_not_kind(agent, need)
        if found is None:
            eligible.append(agent)
        else:
            kinds[agent.id], passed_over[agent.id] = found
    if not eligible:
        return Decision(None, need, considered, passed_over, kinds)
    ranked = sorted(eligible, key=lambda a: rank_key(a, need))
    best = ranked[0]
    for other in ranked[1:]:
        passed_over[other.id] = _ranked_below(other, best, need)
        kinds[other.id] = RANKED_BELOW
    return Decision(best, need, considered, passed_over, kinds)


def _ranked_below(other: AgentView, best: AgentView, need: Need) -> str:
    if other.tier != best.tier:
        return f"higher tier {other.tier} than {best.tier}"
    if skill_fit(other, need) != skill_fit(best, need):
        return f"lower skill fit {skill_fit(other, need)} than {skill_fit(best, need)}"
    if other.active_total / other.max_total != best.active_total / best.max_total:
        return f"more loaded ({other.active_total}/{other.max_total})"
    return "assigned more recently"
