"""``POST /v1/staffing/plan``: agents per interval for explicit volumes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierline_metrics.staffing.plan import Target, plan
from tierline_shared.web import error_body

router = APIRouter(prefix="/v1/staffing", tags=["staffing"])

EXAMPLE = {"interval_minutes": 30, "aht_s": 240, "service_level": 0.8, "answer_within_s": 20,
           "max_occupancy": 0.85, "shrinkage": 0.3, "volumes": [0, 12, 40, 95, 120, 80]}


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})
    volumes: list[Annotated[float, Field(ge=0, le=1_000_000)]] = Field(
        min_length=1, max_length=7 * 96, description="contacts per interval, in order")
    interval_minutes: int = Field(default=30, description="15, 30 or 60")
    aht_s: float = Field(default=300, gt=0, le=86_400, description="mean handle time")
    service_level: float | None = Field(default=None, gt=0, lt=1)
    answer_within_s: float = Field(default=20, ge=0, le=86_400)
    asa_s: float | None = Field(default=None, gt=0, le=86_400)
    max_occupancy: float = Field(default=0.85, gt=0, le=1)
    shrinkage: float = Field(default=0.3, ge=0, lt=1)

    @model_validator(mode="after")
    def _one_target(self) -> PlanIn:
        if self.service_level is None and self.asa_s is None:
            self.service_level = 0.8
        if self.service_level is not None and self.asa_s is not None:
            raise ValueError("give service_level or asa_s, not both")
        if self.interval_minutes not in (15, 30, 60):
            raise ValueError("interval_minutes must be 15, 30 or 60")
        return self


class IntervalOut(BaseModel):
    index: int
    volume: float
    load: float
    agents: int
    scheduled: int
    service_level: float
    asa_s: float
    occupancy: float
    probability_wait: float


class PlanOut(BaseModel):
    intervals: list[IntervalOut]
    total_agent_hours: float
    total_scheduled_hours: float


@router.post("/plan", response_model=PlanOut, responses={422: {"description": "Invalid input"}})
async def staffing_plan(body: Annotated[PlanIn, Body(openapi_examples={
        "half-hours": {"summary": "A morning in half hours", "value": EXAMPLE}})]) -> PlanOut:
    """Erlang C per interval: the fewest agents meeting the service-level (or ASA) target
    under the occupancy cap, their expected service level, ASA and occupancy, and the
    headcount to schedule after shrinkage."""
    try:
        target = Target(interval_minutes=body.interval_minutes, aht_s=body.aht_s,
                        service_level=body.service_level,
                        answer_within_s=body.answer_within_s, asa_s=body.asa_s,
                        max_occupancy=body.max_occupancy, shrinkage=body.shrinkage)
        rows = plan(body.volumes, target)
    except ValueError as exc:
        raise HTTPException(422, error_body("validation_error", [
            {"field": "body", "message": str(exc), "type": "value_error"}])) from None
    hours = body.interval_minutes / 60
    return PlanOut(intervals=[IntervalOut(**r.as_dict()) for r in rows],
                   total_agent_hours=sum(r.agents for r in rows) * hours,
                   total_scheduled_hours=sum(r.scheduled for r in rows) * hours)
