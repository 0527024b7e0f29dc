"""Intake's policy files: the taxonomy and the priority matrix."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierline_shared.policy import load_policy

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: list[str] = Field(min_length=1)
    subcategories: dict[str, list[str]] = Field(default_factory=dict)


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    triage_below_confidence: float = Field(ge=0, le=1)
    categories: dict[str, Category] = Field(min_length=1)
    type_rules: dict[str, list[str]]

    @model_validator(mode="after")
    def _types(self) -> Taxonomy:
        unknown = set(self.type_rules) - {"incident", "service_request"}
        if unknown:
            raise ValueError(f"type_rules may name only incident and service_request, not "
                             f"{', '.join(sorted(unknown))}")
        return self


class PriorityMatrix(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    levels: list[str] = Field(min_length=1)
    default_impact: str
    default_urgency: str
    matrix: dict[str, dict[str, str]]

    @model_validator(mode="after")
    def _complete(self) -> PriorityMatrix:
        for name in ("default_impact", "default_urgency"):
            if getattr(self, name) not in self.levels:
                raise ValueError(f"{name} must be one of the levels {self.levels}")
        for impact in self.levels:
            row = self.matrix.get(impact)
            if row is None:
                raise ValueError(f"matrix has no row for impact {impact!r}")
            for urgency in self.levels:
                if row.get(urgency) not in PRIORITIES:
                    raise ValueError(f"matrix[{impact}][{urgency}] must be one of {PRIORITIES}")
        return self


def load_taxonomy(policy_dir: Path) -> Taxonomy:
    return load_policy(policy_dir / "taxonomy.yaml", Taxonomy)


def load_priority_matrix(policy_dir: Path) -> PriorityMatrix:
    return load_policy(policy_dir / "priority.yaml", PriorityMatrix)
