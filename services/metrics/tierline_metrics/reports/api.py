"""The reports API: KPIs for a period (JSON or CSV, overall or grouped), targets met or
missed per day or week, and a CSV export of every read model."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics import models
from tierline_metrics.context import metrics_context
from tierline_metrics.events.ticket_log import load
from tierline_metrics.kpi.formulas import GroupBy, Period, report
from tierline_metrics.kpi.targets import judge
from tierline_shared.auth.deps import require
from tierline_shared.csvsafe import safe_cell
from tierline_shared.runtime import Runtime
from tierline_shared.web import RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["reports"])

MAX_DAYS = 400
GROUPS = ("team", "agent", "tier", "category", "channel", "priority")
EXPORTS: dict[str, Table] = {t.name: t for t in (
    models.ticket_facts, models.ticket_log, models.sla_events, models.escalations,
    models.major_incidents, models.problems, models.presence_log, models.schedule_shifts,
    models.qa_evaluations, models.esat_answers, models.voc_signals)}


def _invalid(field: str, message: str) -> HTTPException:
    return HTTPException(422, error_body("validation_error", [
        {"field": field, "message": message, "type": "value_error"}]))


def check_window(start: datetime, end: datetime) -> Period:
    if end <= start:
        raise _invalid("query.to", "to must be after from")
    if end - start > timedelta(days=MAX_DAYS):
        raise _invalid("query.to", f"a report covers at most {MAX_DAYS} days")
    return Period(start, end)


async def kpi_report(session: AsyncSession, runtime: Runtime, period: Period,
                     group_by: GroupBy | None = None) -> dict[str, Any]:
    context = metrics_context(runtime)
    policy = context.policy
    tickets, staffed = await load(session, period.start, period.end, policy.kpi.fcr_window)
    out = report(tickets, period, policy.kpi, context.business_seconds, staffed,
                 group_by)
    if group_by == "agent":
        scores = await agent_scores(session, period)
        for group in out["groups"]:
            group.update(scores.get(group["key"], {"qa": None, "esat": None}))
    return {"from": period.start.isoformat(), "to": period.end.isoformat(), **out}


async def agent_scores(session: AsyncSession, period: Period) -> dict[str, dict[str, Any]]:
    """Per agent, the mean QA score per dimension and the mean ESAT answer in the period."""
    qa, es = models.qa_evaluations.c, models.esat_answers.c
    out: dict[str, dict[str, Any]] = {}
    for agent, n, knowledge, attitude, process in (await session.execute(
            select(qa.agent_id, func.count(), func.avg(qa.knowledge), func.avg(qa.attitude),
                   func.avg(qa.process))
            .where(qa.evaluated_at >= period.start, qa.evaluated_at < period.end)
            .group_by(qa.agent_id))).all():
        out.setdefault(agent, {"qa": None, "esat": None})["qa"] = {
            "evaluations": n, "knowledge": round(float(knowledge), 4),
            "attitude": round(float(attitude), 4), "process": round(float(process), 4)}
    for agent, n, mean in (await session.execute(
            select(es.agent_id, func.count(), func.avg(es.score))
            .where(es.answered_at >= period.start, es.answered_at < period.end)
            .group_by(es.agent_id))).all():
        out.setdefault(agent, {"qa": None, "esat": None})["esat"] = {
            "answers": n, "mean": round(float(mean), 4)}
    return out


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    flat = [flatten(r) for r in rows]
    columns: dict[str, None] = {}
    for r in flat:
        columns.update(dict.fromkeys(r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: safe_cell(v) for k, v in r.items()} for r in flat)
    return buffer.getvalue()


def csv_response(text: str, name: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


Format = Literal["json", "csv"]


@router.get("/reports/kpis", responses={422: {"description": "Invalid window or grouping"}},
            dependencies=[require("reports:read")])
async def get_kpis(
    session: SessionDep, runtime: RuntimeDep,
    start: Annotated[AwareDatetime, Query(alias="from", description="start (inclusive)")],
    end: Annotated[AwareDatetime, Query(alias="to", description="end (exclusive)")],
    group_by: Annotated[Literal["team", "agent", "tier", "category", "channel", "priority"]
                        | None, Query()] = None,
    format: Annotated[Format, Query()] = "json",
) -> Any:
    """The KPI set for tickets created in [from, to) (backlog: open at ``to``; cost: agent
    hours in the window over tickets resolved in it), overall or per group. Per agent it
    adds QA and ESAT means. ``format=csv`` gives one row per group with dotted columns."""
    period = check_window(start, end)
    out = await kpi_report(session, runtime, period, group_by)
    if format == "csv":
        rows = out["groups"] if group_by else [out]
        return csv_response(to_csv(rows), "kpis")
    return out


@router.get("/reports/targets", responses={422: {"description": "Invalid window"}},
            dependencies=[require("reports:read")])
async def get_targets(
    session: SessionDep, runtime: RuntimeDep,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    period: Annotated[Literal["day", "week"], Query()] = "day",
    format: Annotated[Format, Query()] = "json",
) -> Any:
    """Each configured target met or missed, per day or week (from ``from``) of the window:
    one row per period and target with its bounds and figure (``met`` null: no data)."""
    check_window(start, end)
    step = timedelta(days=1 if period == "day" else 7)
    policy = metrics_context(runtime).policy
    rows = []
    lo = start
    while lo < end:
        hi = min(lo + step, end)
        figures = await kpi_report(session, runtime, Period(lo, hi))
        for row in judge(figures, policy.targets):
            rows.append({"from": lo.isoformat(), "to": hi.isoformat(), **row})
        lo = hi
    if format == "csv":
        return csv_response(to_csv(rows), "targets")
    return {"period": period, "targets": rows}


@router.get("/export",
            dependencies=[require("reports:read")])
async def list_exports() -> dict[str, list[str]]:
    """The read models that ``GET /v1/export/{table}`` gives as CSV."""
    return {"tables": sorted(EXPORTS)}


@router.get("/export/{table}", responses={404: {"description": "No such read model"}},
            dependencies=[require("reports:read")])
async def export(table: str, runtime: RuntimeDep) -> StreamingResponse:
    """A whole read model as CSV (JSON columns as JSON text), streamed in key order."""
    source = EXPORTS.get(table)
    if source is None:
        raise HTTPException(404, error_body("not_found", f"no read model {table!r}",
                                            tables=sorted(EXPORTS)))

    async def rows() -> AsyncIterator[str]:
        columns = [c.name for c in source.columns]
        yield _line(columns)
        async with runtime.sessions() as session:
            result = await session.stream(select(source).order_by(*source.primary_key.columns))
            async for record in result:
                yield _line([_cell(v) for v in record])

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{table}.csv"'})


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else safe_cell(value)


def _line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
