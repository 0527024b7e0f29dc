"""The routing rules file: what each ticket needs, how the pool widens while it waits, and
how waiting work ages. Pure: no I/O beyond reading the policy file."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierline_router.routing.matcher import Need
from tierline_shared.policy import load_policy

PRIORITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4, "P5": 5}
TRIAGE_SKILL = "triage"


class NeedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skills: dict[str, int] | None = Field(default=None, min_length=1)
    min_tier: int | None = Field(default=None, ge=1, le=3)
    max_tier: int | None = Field(default=None, ge=1, le=3)
    generalist: bool | None = None
    queue: str | None = Field(default=None, pattern=r"^[a-z0-9_.-]{1,64}$")

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        for name, level in (value or {}).items():
            if not 1 <= level <= 5:
                raise ValueError(f"skill {name!r}: level {level} is not 1 to 5")
        return value


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket_types: list[str] | None = None
    categories: list[str] | None = None
    subcategories: list[str] | None = None
    priorities: list[Literal["P1", "P2", "P3", "P4", "P5"]] | None = None
    channels: list[str] | None = None
    languages: list[str] | None = None
    plans: list[str] | None = None
    triage: bool | None = None
    vip: bool | None = None


# offer: the agent accepts in Tierline; auto_accept: final at once; accept_in_desk: the desk
# the ticket came from accepts it (the agent puts it in progress there), with no timeout.
Acceptance = Literal["offer", "auto_accept", "accept_in_desk"]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9_.-]{1,64}$")
    when: When = Field(default_factory=When)
    need: NeedSpec = Field(default_factory=NeedSpec)
    acceptance: Acceptance | None = None


class Expansion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_s: float = Field(gt=0)
    min_level: int | None = Field(default=None, ge=1, le=5)
    extra_tiers: int | None = Field(default=None, ge=1, le=2)

    @model_validator(mode="after")
    def _does_something(self) -> Expansion:
        if self.min_level is None and self.extra_tiers is None:
            raise ValueError("an expansion step needs min_level or extra_tiers")
        return self


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1]
    offer_timeout_s: float = Field(default=120, gt=0)
    acceptance: Acceptance = "offer"
    missed_offer_presence: Literal["away", "offline", "available"] = "away"
    reroute_accepted_when: list[Literal["away", "offline"]] = Field(default_factory=list)
    aging_s: float = Field(default=1800, ge=0)
    aging_max_steps: int = Field(default=2, ge=0, le=4)
    default: NeedSpec = Field(default_factory=lambda: NeedSpec(
        skills={"{category}": 1}, min_tier=1, max_tier=3, generalist=True))
    rules: list[Rule] = Field(default_factory=list)
    expansion: list[Expansion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _checks(self) -> RoutingPolicy:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        if self.default.skills is None:
            raise ValueError("default.skills is required")
        self.expansion.sort(key=lambda step: step.after_s)
        return self


@dataclass(frozen=True)
class TicketFacts:
    """What router knows of a ticket, as the rules see it."""

    ticket_type: str
    category: str
    priority: str
    channel: str
    subcategory: str | None = None
    language: str = "en"
    plan: str | None = None
    vip: bool = False
    triage: bool = False
    escalated_tier: int | None = None
    escalated_skill: str | None = None


def load_routing_policy(policy_dir: Path) -> RoutingPolicy:
    return load_policy(policy_dir / "routing.yaml", RoutingPolicy)


def _matches(when: When, t: TicketFacts) -> bool:
    checks: list[tuple[list[str] | None, str | None]] = [
        (when.ticket_types, t.ticket_type), (when.categories, t.category),
        (when.subcategories, t.subcategory), (when.priorities, t.priority),
        (when.channels, t.channel), (when.languages, t.language), (when.plans, t.plan)]
    if any(allowed is not None and value not in allowed for allowed, value in checks):
        return False
    if when.triage is not None and when.triage != t.triage:
        return False
    return when.vip is None or when.vip == t.vip


def rule_for(policy: RoutingPolicy, t: TicketFacts) -> Rule | None:
    return next((rule for rule in policy.rules if _matches(rule.when, t)), None)


def acceptance_of(policy: RoutingPolicy, rule_name: str | None) -> str:
    """How an assignment under this rule becomes final (the policy's default for none)."""
    rule = next((r for r in policy.rules if r.name == rule_name), None)
    return (rule.acceptance if rule is not None else None) or policy.acceptance


def _skill_name(template: str, t: TicketFacts) -> str:
    return template.replace("{category}", t.category).replace(
        "{subcategory}", t.subcategory or t.category)


def need_for(policy: RoutingPolicy, t: TicketFacts, *, waited_s: float = 0,
             excluded: frozenset[str] = frozenset()) -> Need:
    """The ticket's need after ``waited_s`` seconds of waiting: its rule over the default,
    then a functional escalation, then every expansion step already reached."""
    rule = rule_for(policy, t)
    spec = rule.need if rule else NeedSpec()
    d = policy.default
    skills = {_skill_name(k, t): v for k, v in (spec.skills or d.skills or {}).items()}
    min_tier = spec.min_tier or d.min_tier or 1
    max_tier = spec.max_tier or d.max_tier or 3
    generalist = spec.generalist if spec.generalist is not None else bool(d.generalist)
    widened: list[str] = []
    if t.escalated_skill:
        skills = {t.escalated_skill: max(skills.values(), default=1)}
        generalist = False
        widened.append(f"escalated to skill {t.escalated_skill!r}")
    if t.escalated_tier:
        min_tier = max(min_tier, t.escalated_tier)
        max_tier = max(max_tier, min_tier)
        widened.append(f"escalated to tier {t.escalated_tier}")
    for step in policy.expansion:
        if waited_s < step.after_s:
            break
        if step.min_level is not None:
            skills = {k: min(v, step.min_level) for k, v in skills.items()}
            widened.append(f"after {step.after_s:g}s waiting: skill level {step.min_level} "
                           "accepted")
        if step.extra_tiers is not None and max_tier < 3:
            max_tier = min(3, max_tier + step.extra_tiers)
            widened.append(f"after {step.after_s:g}s waiting: up to tier {max_tier}")
    name = rule.name if rule else "default"
    queue = spec.queue or (name if rule else (TRIAGE_SKILL if t.triage else "default"))
    return Need(skills=skills, channel=t.channel, min_tier=min_tier, max_tier=max_tier,
                language=t.language, generalist_ok=generalist, excluded=excluded,
                rule=name, queue=queue, widened=tuple(widened))


def next_review_s(policy: RoutingPolicy, waited_s: float) -> float | None:
    """Seconds of waiting at which the ticket's need or rank next changes, if ever."""
    upcoming = [step.after_s for step in policy.expansion if step.after_s > waited_s]
    if policy.aging_s and waited_s < policy.aging_s * policy.aging_max_steps:
        upcoming.append((math.floor(waited_s / policy.aging_s) + 1) * policy.aging_s)
    return min(upcoming) if upcoming else None


def effective_rank(policy: RoutingPolicy, priority: str, waited_s: float) -> int:
    """The priority rank (1 = P1) a waiting ticket has earned: one step up per aging_s."""
    rank = PRIORITY_RANK[priority]
    if not policy.aging_s:
        return rank
    steps = min(policy.aging_max_steps, math.floor(waited_s / policy.aging_s))
    return max(2 if rank > 1 else 1, rank - steps)
