"""``POST /v1/staffing/plan``: agents per interval for explicit volumes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierline_metrics.staffing.forecast import forecast
from tierline_metrics.staffing.history import arrivals
from tierline_metrics.staffing.plan import IntervalPlan, Target, plan
from tierline_metrics.staffing.shifts import Infeasible, ShiftTemplate, schedule
from tierline_shared.auth.deps import require
from tierline_shared.bus.events import Channel
from tierline_shared.web import RuntimeDep, error_body

router = APIRouter(prefix="/v1/staffing", tags=["staffing"])

EXAMPLE = {"interval_minutes": 30, "aht_s": 240, "service_level": 0.8, "answer_within_s": 20,
           "max_occupancy": 0.85, "shrinkage": 0.3, "volumes": [0, 12, 40, 95, 120, 80]}


class ForecastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(default=1, ge=1, le=7, description="days to plan, from today (UTC)")
    history_days: int = Field(default=28, ge=1, le=365,
                              description="days of logged tickets before today to learn from")
    channel: Channel | None = None
    ticket_type: Literal["incident", "service_request"] | None = None


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=64)]
    length_minutes: int = Field(gt=0, le=24 * 60)
    start_minutes: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="allowed start times, minutes from the plan's start; "
        "default: every interval")
    break_after_minutes: int | None = Field(default=None, gt=0)
    break_minutes: int = Field(default=0, ge=0)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})
    volumes: list[Annotated[float, Field(ge=0, le=1_000_000)]] | None = Field(
        default=None, min_length=1, max_length=7 * 96,
        description="contacts per interval, in order; or give forecast")
    forecast: ForecastIn | None = Field(default=None, description="forecast the volumes from "
                                        "the tickets metrics has seen")
    shifts: list[ShiftIn] | None = Field(default=None, max_length=50, description="shift "
                                         "templates to cover the scheduled headcount with")
    interval_minutes: int = Field(default=30, description="15, 30 or 60")
    aht_s: float = Field(default=300, gt=0, le=86_400, description="mean handle time")
    service_level: float | None = Field(default=None, gt=0, lt=1)
    answer_within_s: float = Field(default=20, ge=0, le=86_400)
    asa_s: float | None = Field(default=None, gt=0, le=86_400)
    max_occupancy: float = Field(default=0.85, gt=0, le=1)
    shrinkage: float = Field(default=0.3, ge=0, lt=1)
    patience_s: float | None = Field(
        default=None, gt=0, le=86_400, description="mean time callers wait before they "
        "abandon (exponential): plan by Erlang A, and report the abandonment; omitted: "
        "nobody abandons (Erlang C)")
    concurrency: int = Field(default=1, ge=1, le=20, description="contacts an agent works "
                             "at once (chat): each agent is that many slots of one queue, "
                             "and aht_s is one contact's handle time at that concurrency")

    @model_validator(mode="after")
    def _one_target(self) -> PlanIn:
        if (self.volumes is None) == (self.forecast is None):
            raise ValueError("give volumes or forecast, not both or neither")
        if self.service_level is None and self.asa_s is None:
            self.service_level = 0.8
        if self.service_level is not None and self.asa_s is not None:
            raise ValueError("give service_level or asa_s, not both")
        if self.interval_minutes not in (15, 30, 60):
            raise ValueError("interval_minutes must be 15, 30 or 60")
        return self


class ShiftOut(BaseModel):
    template: str
    start_minutes: int
    agents: int


class ForecastOut(BaseModel):
    starts_at: datetime
    method: str
    backtest_mae: float | None
    backtest_naive_mae: float | None


class PlanOut(BaseModel):
    intervals: list[IntervalPlan]
    total_agent_hours: float
    total_scheduled_hours: float
    forecast: ForecastOut | None = None
    shifts: list[ShiftOut] | None = None
    shift_paid_hours: float | None = None


def _templates(body: PlanIn, size: int) -> list[ShiftTemplate]:
    step = body.interval_minutes
    out = []
    for shift in body.shifts or []:
        for name, value in (("length_minutes", shift.length_minutes),
                            ("break_after_minutes", shift.break_after_minutes),
                            ("break_minutes", shift.break_minutes)):
            if value is not None and value % step:
                raise ValueError(f"shift {shift.name}: {name} must be a multiple of {step}")
        starts = (range(size) if shift.start_minutes is None
                  else [m // step for m in shift.start_minutes if m % step == 0])
        out.append(ShiftTemplate(
            shift.name, shift.length_minutes // step, tuple(starts),
            None if shift.break_after_minutes is None else shift.break_after_minutes // step,
            shift.break_minutes // step))
    return out


@router.post("/plan", response_model=PlanOut, responses={422: {"description": "Invalid input"}},
             dependencies=[require("reports:read")])
async def staffing_plan(runtime: RuntimeDep, body: Annotated[PlanIn, Body(openapi_examples={
        "half-hours": {"summary": "A morning in half hours", "value": EXAMPLE},
        "forecast": {"summary": "Tomorrow's chat, forecast from four weeks", "value": {
            "forecast": {"days": 1, "history_days": 28, "channel": "chat"},
            "aht_s": 300, "service_level": 0.8, "answer_within_s": 30,
            "shifts": [{"name": "early", "length_minutes": 480, "break_after_minutes": 240,
                        "break_minutes": 30}]}}})]) -> PlanOut:
    """Erlang C per interval (Erlang A with `patience_s`): the fewest agents meeting the
    service-level (or ASA) target under the occupancy cap, their expected service level,
    ASA, occupancy and abandonment, and the headcount to schedule after shrinkage. With
    `concurrency` k each agent is k slots of the queue (chat). Volumes are given, or
    forecast from the tickets metrics has seen (Holt-Winters, with its backtest error). With
    shift templates, the headcount is covered at the fewest paid hours (integer
    programme)."""
    forecast_out = None
    try:
        target = Target(interval_minutes=body.interval_minutes, aht_s=body.aht_s,
                        service_level=body.service_level,
                        answer_within_s=body.answer_within_s, asa_s=body.asa_s,
                        max_occupancy=body.max_occupancy, shrinkage=body.shrinkage,
                        patience_s=body.patience_s, concurrency=body.concurrency)
        volumes = body.volumes
        if body.forecast is not None:
            per_day = 24 * 60 // body.interval_minutes
            today = runtime.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
            async with runtime.sessions() as session:
                history = await arrivals(
                    session, start=today - timedelta(days=body.forecast.history_days),
                    end=today, interval_minutes=body.interval_minutes,
                    channel=body.forecast.channel, ticket_type=body.forecast.ticket_type)
            predicted = forecast(history, per_day, per_day * body.forecast.days)
            volumes = predicted.values
            forecast_out = ForecastOut(starts_at=today, method=predicted.method,
                                       backtest_mae=predicted.backtest_mae,
                                       backtest_naive_mae=predicted.backtest_naive_mae)
        assert volumes is not None
        rows = plan(volumes, target)
        shifts_out = paid = None
        if body.shifts:
            result = schedule([r.scheduled for r in rows], _templates(body, len(rows)))
            shifts_out = [ShiftOut(template=a.template,
                                   start_minutes=a.start * body.interval_minutes,
                                   agents=a.agents) for a in result.shifts]
            paid = result.paid_intervals * body.interval_minutes / 60
    except (ValueError, Infeasible) as exc:
        raise HTTPException(422, error_body("validation_error", [
            {"field": "body", "message": str(exc), "type": "value_error"}])) from None
    hours = body.interval_minutes / 60
    return PlanOut(intervals=rows,
                   total_agent_hours=sum(r.agents for r in rows) * hours,
                   total_scheduled_hours=sum(r.scheduled for r in rows) * hours,
                   forecast=forecast_out, shifts=shifts_out, shift_paid_hours=paid)
