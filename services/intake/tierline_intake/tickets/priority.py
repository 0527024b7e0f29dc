"""Priority from impact x urgency: pure rules, every inference with its reason."""

from __future__ import annotations

from dataclasses import dataclass

from tierline_intake.policies import PriorityPolicy
from tierline_intake.tickets.rules import exclusive_hits


@dataclass(frozen=True)
class Reason:
    """One inference on a ticket: which field, what value, where it came from, and why."""

    field: str
    value: str
    source: str  # given, inferred, default or override
    reason: str
    confidence: float | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"field": self.field, "value": self.value,
                                  "source": self.source, "reason": self.reason}
        if self.confidence is not None:
            out["confidence"] = self.confidence
        return out


@dataclass(frozen=True)
class Signals:
    """What the ticket says about its impact and urgency, beyond explicit values."""

    text: str = ""
    scope: str | None = None
    affected_count: int | None = None
    business_critical: bool = False
    service: str | None = None
    vip: bool = False
    plan: str | None = None


def _raise(policy: PriorityPolicy, level: str, steps: int) -> str:
    index = policy.levels.index(level)
    return policy.levels[max(index - steps, 0)]


def _most_severe(policy: PriorityPolicy, levels: list[str]) -> str:
    return min(levels, key=policy.levels.index)


def infer_impact(policy: PriorityPolicy, signals: Signals) -> list[Reason]:
    """The impact and the steps that led to it; the last reason holds the final value."""
    rules = policy.impact_rules
    found: list[tuple[str, str]] = []
    if signals.scope is not None and signals.scope in rules.scope:
        found.append((rules.scope[signals.scope], f"affects {signals.scope.replace('_', ' ')}"))
    if signals.affected_count is not None:
        for threshold in rules.count:
            if signals.affected_count >= threshold.at_least:
                found.append((threshold.level, f"{signals.affected_count} users affected "
                                               f"(at least {threshold.at_least})"))
                break
    reasons: list[Reason] = []
    if found:
        level = _most_severe(policy, [lvl for lvl, _ in found])
        why = "; ".join(text for lvl, text in found if lvl == level)
        reasons.append(Reason("impact", level, "inferred", why))
    else:
        level = policy.default_impact
        reasons.append(Reason("impact", level, "default",
                              "no scope or count of affected users given; policy default"))
    if signals.business_critical and rules.business_critical_raises:
        raised = _raise(policy, level, rules.business_critical_raises)
        if raised != level:
            name = f"service {signals.service!r}" if signals.service else "the service"
            reasons.append(Reason("impact", raised, "inferred",
                                  f"{name} is business-critical: raised from {level}"))
    return reasons


def infer_urgency(policy: PriorityPolicy, signals: Signals) -> list[Reason]:
    rules = policy.urgency_rules
    reasons: list[Reason] = []
    words = exclusive_hits(rules.words, signals.text)
    matched = [level for level, hits in words.items() if hits]
    if matched:
        level = _most_severe(policy, matched)
        reasons.append(Reason("urgency", level, "inferred", f"words {words[level]}"))
    else:
        level = policy.default_urgency
        reasons.append(Reason("urgency", level, "default",
                              "no urgency words found; policy default"))
    if signals.vip and rules.vip_raises:
        raised = _raise(policy, level, rules.vip_raises)
        if raised != level:
            reasons.append(Reason("urgency", raised, "inferred",
                                  f"requester is a VIP: raised from {level}"))
            level = raised
    if signals.plan is not None and signals.plan in rules.plans_raising:
        raised = _raise(policy, level, 1)
        if raised != level:
            reasons.append(Reason("urgency", raised, "inferred",
                                  f"customer plan {signals.plan!r}: raised from {level}"))
    return reasons


@dataclass(frozen=True)
class PriorityOverride:
    priority: str
    by: str
    reason: str | None = None


def prioritize(policy: PriorityPolicy, *, impact: str | None, urgency: str | None,
               signals: Signals,
               override: PriorityOverride | None = None) -> tuple[str, str, str, list[Reason]]:
    """(impact, urgency, priority, reasons). Given values win over inference."""
    reasons: list[Reason] = []
    if impact is not None:
        reasons.append(Reason("impact", impact, "given", "impact given by the caller"))
    else:
        reasons += infer_impact(policy, signals)
    final_impact = [r for r in reasons if r.field == "impact"][-1].value
    if urgency is not None:
        reasons.append(Reason("urgency", urgency, "given", "urgency given by the caller"))
    else:
        reasons += infer_urgency(policy, signals)
    final_urgency = [r for r in reasons if r.field == "urgency"][-1].value
    matrix = policy.matrix[final_impact][final_urgency]
    reasons.append(Reason("priority", matrix, "inferred",
                          f"matrix[impact={final_impact}][urgency={final_urgency}]"))
    if override is None or override.priority == matrix:
        return final_impact, final_urgency, matrix, reasons
    why = f"overridden by {override.by} (matrix gave {matrix})"
    if override.reason:
        why += f": {override.reason}"
    reasons.append(Reason("priority", override.priority, "override", why))
    return final_impact, final_urgency, override.priority, reasons
