"""Quality assurance and agent self-evaluation: ``POST/GET /v1/qa/evaluations`` (knowledge,
attitude and process adherence, 1-5 each) and ``POST/GET /v1/esat/answers`` (1-5). Metrics
is the system of record for both; the per-agent KPI report shows their means."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Table, select

from tierline_metrics.models import esat_answers, qa_evaluations
from tierline_metrics.qa.schemas import EsatIn, EvaluationIn
from tierline_shared.auth.deps import require
from tierline_shared.pagination import Limit, Offset, fetch_page, page
from tierline_shared.web import RuntimeDep, SessionDep

router = APIRouter(prefix="/v1", tags=["quality"])


async def _store(runtime: Any, table: Table, values: dict[str, Any]) -> dict[str, Any]:
    row = {"id": uuid.uuid4(), **values}
    async with runtime.transaction() as uow:
        await uow.session.execute(table.insert().values(**row))
    return row


async def _list(session: Any, table: Table, time_column: str, agent_id: str | None,
                limit: int, offset: int) -> dict[str, Any]:
    query = select(table).order_by(table.c[time_column], table.c.id)
    if agent_id is not None:
        query = query.where(table.c.agent_id == agent_id)
    rows, total = await fetch_page(session, query, limit, offset)
    return page([dict(r._mapping) for r in rows], total, limit, offset)


@router.post("/qa/evaluations", status_code=201,
             responses={422: {"description": "Invalid evaluation"}},
             dependencies=[require("reports:write")])
async def post_evaluation(body: EvaluationIn, runtime: RuntimeDep) -> dict[str, Any]:
    return await _store(runtime, qa_evaluations, body.model_dump())


@router.get("/qa/evaluations",
            dependencies=[require("reports:read")])
async def list_evaluations(session: SessionDep,
                           agent_id: Annotated[str | None, Query(max_length=200)] = None,
                           limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Evaluations, oldest first, one page at a time."""
    return await _list(session, qa_evaluations, "evaluated_at", agent_id, limit, offset)


@router.post("/esat/answers", status_code=201, responses={422: {"description": "Invalid answer"}},
             dependencies=[require("reports:write")])
async def post_esat(body: EsatIn, runtime: RuntimeDep) -> dict[str, Any]:
    return await _store(runtime, esat_answers, body.model_dump())


@router.get("/esat/answers",
            dependencies=[require("reports:read")])
async def list_esat(session: SessionDep,
                    agent_id: Annotated[str | None, Query(max_length=200)] = None,
                    limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Self-evaluation answers, oldest first, one page at a time."""
    return await _list(session, esat_answers, "answered_at", agent_id, limit, offset)
