"""Metrics' policy file (``metrics.yaml`` in the policy folder): KPI windows, cost of an agent
hour, targets, per-agent series and the voice-of-the-customer test. Validated at start-up
with errors naming the file, line and field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierline_metrics.kpi.formulas import KpiPolicy
from tierline_shared.policy import load_policy
from tierline_shared.sla_policy import load_sla_policy


class Bound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("a target needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


TargetName = Literal["deflection_rate", "fcr_rate", "csat_rate", "tier1_resolution_p90_seconds",
                     "resolution_p90_seconds", "tier1_escalation_rate", "escalation_rate"]


class VoiceOfCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    baseline_days: int = Field(default=14, ge=3, le=365)
    alpha: float = Field(default=0.001, gt=0, lt=0.5)
    min_count: int = Field(default=5, ge=1)
    check_interval_s: float = Field(default=60, gt=0)


class MetricsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    fcr_window_days: float = Field(default=7, gt=0, le=90)
    cost_per_agent_hour: float = Field(default=40.0, ge=0)
    per_agent_series: bool = False
    targets: dict[TargetName, Bound] = Field(default_factory=lambda: {
        "deflection_rate": Bound(min=0.30, max=0.50), "fcr_rate": Bound(min=0.75),
        "csat_rate": Bound(min=0.85), "tier1_resolution_p90_seconds": Bound(max=14400),
        "resolution_p90_seconds": Bound(max=86400), "tier1_escalation_rate": Bound(max=0.25),
        "escalation_rate": Bound(max=0.15)})
    voice_of_customer: VoiceOfCustomer = Field(default_factory=VoiceOfCustomer)

    @property
    def kpi(self) -> KpiPolicy:
        return KpiPolicy(fcr_window=timedelta(days=self.fcr_window_days),
                         cost_per_agent_hour=self.cost_per_agent_hour)


def load_metrics_policy(policy_dir: Path) -> MetricsPolicy:
    path = policy_dir / "metrics.yaml"
    return load_policy(path, MetricsPolicy) if path.exists() else MetricsPolicy()


def business_seconds(policy_dir: Path) -> Callable[[str | None, datetime, datetime], float]:
    """Business seconds between two instants on the calendar sla's policy gives the
    ticket's priority (the same calendars its clocks run on); wall clock without one."""
    sla = load_sla_policy(policy_dir)

    def seconds(priority: str | None, start: datetime, end: datetime) -> float:
        if priority is None:
            return max((end - start).total_seconds(), 0.0)
        return sla.calendar_for(priority).business_seconds(start, end)

    return seconds
