"""SLA policy file and the pure arithmetic of due times (24x7 for now)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierline_shared.policy import load_policy

CLOCKS = ("first_response", "resolution")


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_response: int = Field(gt=0, description="minutes")
    resolution: int = Field(gt=0, description="minutes")


class SlaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    targets: dict[str, Target]

    @model_validator(mode="after")
    def _all_priorities(self) -> SlaPolicy:
        missing = [p for p in ("P1", "P2", "P3", "P4", "P5") if p not in self.targets]
        if missing:
            raise ValueError(f"targets missing for {', '.join(missing)}")
        return self

    def due(self, priority: str, clock: str, started_at: datetime) -> tuple[datetime, int]:
        minutes = getattr(self.targets[priority], clock)
        return started_at + timedelta(minutes=minutes), minutes * 60


def load_sla_policy(policy_dir: Path) -> SlaPolicy:
    return load_policy(policy_dir / "sla.yaml", SlaPolicy)
