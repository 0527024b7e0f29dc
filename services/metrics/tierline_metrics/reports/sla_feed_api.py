"""``GET /v1/reports/sla-events``: the latest SLA warnings and breaches, newest first, for
the console's wallboard (metrics already folds them into its ``sla_events`` read model)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import select

from tierline_metrics.models import sla_events
from tierline_shared.auth.deps import require
from tierline_shared.web import SessionDep

router = APIRouter(prefix="/v1", tags=["reports"])

_EXAMPLE = {"ticket_id": "0b7e4f0e-6c1d-4a43-9a51-2b1f8f3d2c10", "kind": "breach",
            "clock": "first_response", "priority": "P2", "threshold_percent": None,
            "at": "2026-11-30T09:30:00Z"}


class SlaEventOut(BaseModel):
    ticket_id: UUID
    kind: str
    clock: str
    priority: str
    threshold_percent: int | None
    at: datetime


class SlaEventList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_EXAMPLE]}]})
    items: list[SlaEventOut]


@router.get("/reports/sla-events", response_model=SlaEventList,
            responses={422: {"description": "Invalid filter"}},
            dependencies=[require("reports:read")])
async def latest_sla_events(
        session: SessionDep,
        since: Annotated[AwareDatetime | None, Query(description="only at or after")] = None,
        kind: Annotated[Literal["warning", "breach"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20) -> Any:
    """SLA warnings and breaches as sla raised them, newest first."""
    query = select(sla_events)
    if since is not None:
        query = query.where(sla_events.c.at >= since)
    if kind is not None:
        query = query.where(sla_events.c.kind == kind)
    rows = (await session.execute(query.order_by(sla_events.c.at.desc(),
                                                 sla_events.c.event_id).limit(limit))).all()
    return {"items": [dict(r._mapping) for r in rows]}
