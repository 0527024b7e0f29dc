"""The escalation matrix and the predictive signals. Pure.

Time-based rules fire when a clock reaches a share of its target (``at_percent``; 100 is
the breach, more is after it): the SLA timers are armed at every threshold a rule names.
A rule matches by clock, priority, the tier of the agent working the ticket (0 while
nobody has it) and category. Its action is functional (to a higher tier, or "next", or to
another skill: router moves the ticket) or hierarchical (notify the team's manager or the
duty manager, optionally raise the priority one step).

Predictive rules escalate before a breach on signals: the customer's sentiment (VADER's
compound score of each of their messages), complexity (reassignments, interactions,
reopens) and repeated contacts (tickets from the same requester on the same category within
a window). Each fires once per ticket.

Every escalation has a level: the number of escalations of that kind the ticket has had,
this one included; a kind stops escalating at ``max_level``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierline_shared.policy import load_policy
from tierline_sla.incidents.major import MajorIncidentPolicy
from tierline_sla.incidents.problems import ProblemPolicy

ClockName = Literal["first_response", "resolution", "update"]
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


class Functional(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_tier: int | Literal["next"] | None = Field(default=None, description="1-3 or next")
    to_skill: str | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> Functional:
        if self.to_tier is None and self.to_skill is None:
            raise ValueError("a functional escalation needs to_tier or to_skill")
        if isinstance(self.to_tier, int) and not 1 <= self.to_tier <= 3:
            raise ValueError("to_tier is 1, 2, 3 or next")
        return self


class Hierarchical(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notify: list[Literal["team_manager", "duty_manager"]] = Field(default_factory=list)
    raise_priority: bool = False

    @model_validator(mode="after")
    def _something(self) -> Hierarchical:
        if not self.notify and not self.raise_priority:
            raise ValueError("a hierarchical escalation notifies someone or raises priority")
        return self


class Action(BaseModel):
    """Exactly one of functional or hierarchical."""

    model_config = ConfigDict(extra="forbid")
    functional: Functional | None = None
    hierarchical: Hierarchical | None = None

    @model_validator(mode="after")
    def _one(self) -> Action:
        if (self.functional is None) == (self.hierarchical is None):
            raise ValueError("give exactly one of functional or hierarchical")
        return self


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clock: ClockName
    at_percent: int = Field(gt=0, le=1000, description="share of the target; 100 = breach")
    priorities: list[Literal["P1", "P2", "P3", "P4", "P5"]] | None = None
    tiers: list[int] | None = Field(default=None, description="0 while unassigned")
    categories: list[str] | None = None


class Rule(Action):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    when: When


class Sentiment(Action):
    threshold: float = Field(default=-0.5, ge=-1, le=0,
                             description="a message at or below this compound score is negative")
    messages: int = Field(default=2, ge=1, description="negative messages before escalating")


class Complexity(Action):
    reassignments: int = Field(default=2, ge=1)
    interactions: int = Field(default=8, ge=1, description="customer messages and comments")
    reopens: int = Field(default=2, ge=1)


class RepeatContacts(Action):
    contacts: int = Field(default=3, ge=2, description="tickets from one requester on one "
                          "category within the window, this one included")
    window_days: int = Field(default=7, ge=1)


class Predictive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sentiment: Sentiment | None = None
    complexity: Complexity | None = None
    repeat_contacts: RepeatContacts | None = None


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    max_level: int = Field(default=3, ge=1, description="per kind (functional, hierarchical)")
    rules: list[Rule] = Field(default_factory=list)
    predictive: Predictive = Field(default_factory=Predictive)
    major_incidents: MajorIncidentPolicy = Field(default_factory=MajorIncidentPolicy)
    problems: ProblemPolicy = Field(default_factory=ProblemPolicy)

    @model_validator(mode="after")
    def _unique_names(self) -> EscalationPolicy:
        names = [rule.name for rule in self.rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names used twice: {twice}")
        return self

    def thresholds(self, clock: str) -> set[int]:
        return {rule.when.at_percent for rule in self.rules if rule.when.clock == clock}


def load_escalation_policy(policy_dir: Path) -> EscalationPolicy:
    return load_policy(policy_dir / "escalation.yaml", EscalationPolicy)


@dataclass(frozen=True)
class TicketView:
    """What the matrix looks at."""

    priority: str
    category: str
    tier: int  # of the agent working it, 0 while unassigned


@dataclass(frozen=True)
class Escalation:
    kind: Literal["functional", "hierarchical"]
    rule: str
    reason: str
    to_tier: int | None = None
    to_skill: str | None = None
    notify: tuple[str, ...] = ()
    raise_priority_to: str | None = None


def matching_rules(policy: EscalationPolicy, clock: str, percent: int,
                   ticket: TicketView) -> list[Rule]:
    out = []
    for rule in policy.rules:
        when = rule.when
        if when.clock != clock or when.at_percent != percent:
            continue
        if when.priorities is not None and ticket.priority not in when.priorities:
            continue
        if when.tiers is not None and ticket.tier not in when.tiers:
            continue
        if when.categories is not None and ticket.category not in when.categories:
            continue
        out.append(rule)
    return out


def act(action: Action, name: str, reason: str, ticket: TicketView) -> Escalation | None:
    """The escalation an action asks for, or None if it cannot go anywhere (already at the
    top tier, or at P1 with nothing to notify)."""
    if action.functional is not None:
        wanted = action.functional.to_tier
        to_tier = max(ticket.tier, 1) + 1 if wanted == "next" else wanted
        if to_tier is not None and to_tier > 3:
            if action.functional.to_skill is None:
                return None
            to_tier = None
        if to_tier is not None and to_tier <= ticket.tier and action.functional.to_skill is None:
            return None
        return Escalation("functional", name, reason, to_tier=to_tier,
                          to_skill=action.functional.to_skill)
    assert action.hierarchical is not None
    raised = None
    if action.hierarchical.raise_priority and ticket.priority != "P1":
        raised = PRIORITIES[PRIORITIES.index(ticket.priority) - 1]
    if not action.hierarchical.notify and raised is None:
        return None
    return Escalation("hierarchical", name, reason, notify=tuple(action.hierarchical.notify),
                      raise_priority_to=raised)


def time_reason(rule: Rule, clock: str, percent: int, priority: str) -> str:
    what = "breached" if percent == 100 else (
        f"at {percent}% of its target" if percent < 100 else f"{percent - 100}% past its target")
    return f"rule {rule.name}: the {priority} {clock.replace('_', ' ')} clock is {what}"


@lru_cache(maxsize=1)
def _analyzer():  # type: ignore[no-untyped-def]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score, -1 (most negative) to +1."""
    return float(_analyzer().polarity_scores(text)["compound"])


@dataclass(frozen=True)
class Signals:
    negative_messages: int = 0
    worst_sentiment: float = 0.0
    reassignments: int = 0
    interactions: int = 0
    reopens: int = 0
    repeat_contacts: int = 1  # tickets on this issue from this requester, this one included


Trigger = Literal["sentiment", "complexity", "repeat_contact"]


def predictive(policy: Predictive, signals: Signals,
               already: Sequence[str] = ()) -> list[tuple[Trigger, Action, str]]:
    """The predictive rules the signals now meet, skipping triggers that already fired."""
    out: list[tuple[Trigger, Action, str]] = []
    if (policy.sentiment is not None and "sentiment" not in already
            and signals.negative_messages >= policy.sentiment.messages):
        limit = policy.sentiment.threshold
        out.append(("sentiment", policy.sentiment,
                    f"{signals.negative_messages} negative customer messages (worst sentiment "
                    f"{signals.worst_sentiment:+.2f}, threshold {limit:+.2f})"))
    c = policy.complexity
    if c is not None and "complexity" not in already:
        hits = [f"{n} {what} (limit {limit})" for n, what, limit in (
            (signals.reassignments, "reassignments", c.reassignments),
            (signals.interactions, "interactions", c.interactions),
            (signals.reopens, "reopens", c.reopens)) if n >= limit]
        if hits:
            out.append(("complexity", c, "complex ticket: " + ", ".join(hits)))
    r = policy.repeat_contacts
    if (r is not None and "repeat_contact" not in already
            and signals.repeat_contacts >= r.contacts):
        out.append(("repeat_contact", r,
                    f"{signals.repeat_contacts} contacts from the requester on this issue "
                    f"within {r.window_days} days (limit {r.contacts})"))
    return out
