"""``GET /v1/reports/sla-events``: the latest SLA warnings and breaches, newest first, for
the console's wallboard (metrics already folds them into its ``sla_events`` read model)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy import select

from tierline_metrics.models import sla_events
from tierline_metrics.reports.schemas import SlaEventList
from tierline_shared.auth.deps import require
from tierline_shared.web import SessionDep

router = APIRouter(prefix="/v1", tags=["reports"])


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
