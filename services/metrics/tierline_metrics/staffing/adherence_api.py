"""Schedules in, adherence out: ``PUT /v1/staffing/schedule``, ``GET /v1/staffing/adherence``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tierline_metrics.models import presence_log, schedule_shifts
from tierline_metrics.staffing.adherence import adherence
from tierline_shared.auth.deps import require
from tierline_shared.web import RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1/staffing", tags=["staffing"])


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _order(self) -> ShiftIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"shifts": [
        {"agent_id": "ana", "starts_at": "2026-11-25T08:00:00Z",
         "ends_at": "2026-11-25T16:00:00Z"}]}]})
    shifts: list[ShiftIn] = Field(min_length=1, max_length=10_000)


class AdherenceOut(BaseModel):
    agent_id: str
    scheduled_minutes: float
    adherent_minutes: float
    adherence: float | None


@router.put("/schedule", responses={422: {"description": "Invalid shifts"}},
            dependencies=[require("reports:write")])
async def put_schedule(body: ScheduleIn, runtime: RuntimeDep) -> dict[str, int]:
    """Store scheduled shifts (an agent's shift starting at the same time is replaced)."""
    async with runtime.transaction() as uow:
        session = uow.session
        for shift in body.shifts:
            values = shift.model_dump()
            await session.execute(pg_insert(schedule_shifts).values(**values).on_conflict_do_update(
                index_elements=[schedule_shifts.c.agent_id, schedule_shifts.c.starts_at],
                set_={"ends_at": shift.ends_at}))
    return {"stored": len(body.shifts)}


@router.get("/adherence", response_model=list[AdherenceOut],
            responses={422: {"description": "Invalid window"}},
            dependencies=[require("reports:read")])
async def get_adherence(session: SessionDep, runtime: RuntimeDep,
                        start: Annotated[AwareDatetime, Query()],
                        end: Annotated[AwareDatetime, Query()]) -> list[AdherenceOut]:
    """Per agent, the share of scheduled time in [start, end) spent available or busy,
    from the presence changes router published. Time still to come is not judged."""
    if end <= start:
        raise HTTPException(422, error_body("validation_error", [
            {"field": "query.end", "message": "end must be after start", "type": "value_error"}]))
    s = schedule_shifts.c
    shifts = (await session.execute(select(s.agent_id, s.starts_at, s.ends_at).where(
        s.starts_at < end, s.ends_at > start).order_by(s.agent_id, s.starts_at))).all()
    by_agent: dict[str, list[tuple[datetime, datetime]]] = {}
    for agent_id, starts, ends in shifts:
        by_agent.setdefault(agent_id, []).append((max(starts, start), min(ends, end)))
    out = []
    for agent_id, windows in by_agent.items():
        p = presence_log.c
        changes = (await session.execute(select(p.at, p.presence).where(
            p.agent_id == agent_id, p.at < end).order_by(p.at))).all()
        result = adherence(agent_id, windows, [(at, value) for at, value in changes],
                           runtime.clock.now())
        out.append(AdherenceOut(agent_id=agent_id, scheduled_minutes=result.scheduled_s / 60,
                                adherent_minutes=result.adherent_s / 60,
                                adherence=result.ratio))
    return out
