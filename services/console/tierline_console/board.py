"""The supervisor's wallboard (queues, agents by presence, waiting tickets at SLA risk, open
major incidents, today's KPIs; pushed every two seconds over Server-Sent Events), the
force-assign form and ticket search."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from tierline_console import views
from tierline_console.backend import Backend
from tierline_console.common import BackendDep, CheckedDep, SessionDep, forbidden, now, page
from tierline_console.inbox import sse_html
from tierline_console.sessions import Session

router = APIRouter(include_in_schema=False)
PUSH_S = 2.0


def _not_supervisor(request: Request, session: Session) -> Response:
    return forbidden(request, session, "the wallboard: it needs a supervisor's key "
                                       "(admin or agents:admin)")


def _status(request: Request, ok: bool) -> int:
    """htmx swaps only 2xx answers: a refusal it should show comes as 200 to htmx, 422 to
    anyone else."""
    return 200 if ok or request.headers.get("HX-Request") == "true" else 422


async def board_context(backend: Backend, session: Session) -> dict[str, Any]:
    at = now()
    data = await backend.board(session.api_key, at)
    waiting = [{**t, "queue": q} for q, items in data["waiting"].items() for t in items]
    waiting.sort(key=lambda t: (t["sla_due_at"] or "9999", t["queued_at"]))
    return {"now": at, "queues": None if data["queues"] is None else views.queue_rows(
                data["queues"], data["waiting"], at),
            "waiting": waiting[:50],
            "at_risk_s": views.RISK_S,
            "agents": None if data["agents"] is None else views.agents_by_presence(
                data["agents"]),
            "agent_ids": sorted(a["id"] for a in data["agents"] or []),
            "majors": data["majors"], "tiles": views.kpi_tiles(data["kpis"]),
            "sla_events": data["sla_events"]}


@router.get("/wallboard", response_class=HTMLResponse)
async def wallboard(request: Request, session: SessionDep, backend: BackendDep) -> Response:
    if not session.who.supervisor:
        return _not_supervisor(request, session)
    request.state.console_session = session
    return page(request, "wallboard.html", **await board_context(backend, session))


@router.get("/wallboard/stream")
async def wallboard_stream(request: Request, session: SessionDep,
                           backend: BackendDep) -> Response:
    if not session.who.supervisor:
        return _not_supervisor(request, session)
    request.state.console_session = session

    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        while True:
            html = page(request, "_board.html",
                        **await board_context(backend, session)).body.decode()
            yield sse_html("board", html)
            await asyncio.sleep(PUSH_S)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


@router.post("/wallboard/assign", response_class=HTMLResponse)
async def assign(request: Request, session: CheckedDep, backend: BackendDep,
                 ticket_id: Annotated[str, Form(max_length=64)],
                 agent_id: Annotated[str, Form(max_length=64)],
                 reason: Annotated[str, Form(max_length=1000)] = "",
                 override: Annotated[bool, Form()] = False) -> Response:
    if not session.who.supervisor:
        return _not_supervisor(request, session)
    request.state.console_session = session
    result = await backend.assign(session.api_key, ticket_id.strip(), agent_id.strip(),
                                  reason.strip(), override)
    return page(request, "_assign_result.html", status=_status(request, result.ok),
                ok=result.ok, body=result.body, detail=result.detail(),
                ticket_id=ticket_id.strip(), agent_id=agent_id.strip())


@router.get("/wallboard/tickets", response_class=HTMLResponse)
async def search(request: Request, session: SessionDep, backend: BackendDep,
                 status: Annotated[str, Query(max_length=32)] = "",
                 priority: Annotated[str, Query(max_length=4)] = "",
                 requester: Annotated[str, Query(max_length=200)] = "",
                 assigned_agent: Annotated[str, Query(max_length=200)] = "",
                 category: Annotated[str, Query(max_length=64)] = "",
                 cursor: Annotated[str, Query(max_length=400)] = "") -> Response:
    if not session.who.supervisor:
        return _not_supervisor(request, session)
    request.state.console_session = session
    params = {k: v for k, v in {"status": status, "priority": priority, "requester": requester,
                                "assigned_agent": assigned_agent, "category": category,
                                "cursor": cursor, "limit": 20}.items() if v}
    found = await backend.search(session.api_key, params)
    return page(request, "_results.html", status=_status(request, found.ok),
                found=found.body if found.ok else None, error=found.detail(),
                params={k: v for k, v in params.items() if k not in ("cursor", "limit")})
