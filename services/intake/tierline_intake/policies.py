"""Intake's policy files: the taxonomy (with its rules) and the priority policy."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierline_shared.policy import load_policy

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
TICKET_TYPES = ("incident", "service_request")


def _valid_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern {pattern!r} is not a valid regular expression: "
                             f"{exc}") from None
    return patterns


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    _check = field_validator("patterns")(_valid_patterns)


class Category(Rule):
    subcategories: dict[str, Rule] = Field(default_factory=dict)


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    triage_below_confidence: float = Field(ge=0, le=1)
    rule_weight: float = Field(ge=0, le=1, description="share of the keyword and pattern "
                               "rules in the blend with the statistical classifier")
    categories: dict[str, Category] = Field(min_length=2)
    type_rules: dict[str, Rule]

    @model_validator(mode="after")
    def _types(self) -> Taxonomy:
        unknown = set(self.type_rules) - set(TICKET_TYPES)
        if unknown:
            raise ValueError(f"type_rules may name only {', '.join(TICKET_TYPES)}, not "
                             f"{', '.join(sorted(unknown))}")
        return self


class CountThreshold(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at_least: int = Field(ge=1)
    level: str


class ImpactRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: dict[str, str] = Field(default_factory=dict)
    count: list[CountThreshold] = Field(default_factory=list)
    business_critical_raises: int = Field(default=1, ge=0)


class UrgencyRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    words: dict[str, list[str]] = Field(default_factory=dict)
    vip_raises: int = Field(default=1, ge=0)
    plans_raising: list[str] = Field(default_factory=list)


class PriorityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    levels: list[str] = Field(min_length=1)
    default_impact: str
    default_urgency: str
    matrix: dict[str, dict[str, str]]
    impact_rules: ImpactRules = Field(default_factory=ImpactRules)
    urgency_rules: UrgencyRules = Field(default_factory=UrgencyRules)

    @model_validator(mode="after")
    def _complete(self) -> PriorityPolicy:
        levels = self.levels
        for name in ("default_impact", "default_urgency"):
            if getattr(self, name) not in levels:
                raise ValueError(f"{name} must be one of the levels {levels}")
        for impact in levels:
            row = self.matrix.get(impact)
            if row is None:
                raise ValueError(f"matrix has no row for impact {impact!r}")
            for urgency in levels:
                if row.get(urgency) not in PRIORITIES:
                    raise ValueError(f"matrix[{impact}][{urgency}] must be one of {PRIORITIES}")
        used = [*self.impact_rules.scope.values(), *(t.level for t in self.impact_rules.count),
                *self.urgency_rules.words]
        wrong = sorted({level for level in used if level not in levels})
        if wrong:
            raise ValueError(f"rules name levels {wrong} that are not in levels {levels}")
        return self


def load_taxonomy(policy_dir: Path) -> Taxonomy:
    return load_policy(policy_dir / "taxonomy.yaml", Taxonomy)


def load_priority_policy(policy_dir: Path) -> PriorityPolicy:
    return load_policy(policy_dir / "priority.yaml", PriorityPolicy)
