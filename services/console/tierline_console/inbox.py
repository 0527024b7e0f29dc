"""The agent's inbox: presence, open offers (accept or decline in one click), held work;
new and withdrawn offers arrive over Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from tierline_console.backend import Backend
from tierline_console.common import BackendDep, CheckedDep, SessionDep, forbidden, now, page
from tierline_console.sessions import Session
from tierline_console.views import PRESENCES

router = APIRouter(include_in_schema=False)
TicketId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")]


def sse_html(event: str, html: str) -> str:
    """One event whose data is an HTML fragment (one ``data:`` line per line)."""
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {event}\n{lines}\n"


async def _work(request: Request, backend: Backend, session: Session,
                flash: str | None = None, status: int = 200) -> Response:
    request.state.console_session = session
    assert session.who.agent_id is not None
    work = await backend.agent_work(session.api_key, session.who.agent_id)
    if not work.ok:
        return page(request, "_work.html", status=work.status if work.status >= 400 else 502,
                    work=None, error=work.detail(), now=now(), flash=flash)
    return page(request, "_work.html", status=status, work=work.body, now=now(), flash=flash,
                presences=PRESENCES)


def _no_agent(request: Request, session: Session) -> Response:
    return forbidden(request, session, "the inbox: this key is not bound to an agent")


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request, session: SessionDep, backend: BackendDep) -> Response:
    if session.who.agent_id is None:
        return _no_agent(request, session)
    request.state.console_session = session
    work = await backend.agent_work(session.api_key, session.who.agent_id)
    return page(request, "inbox.html", status=200 if work.ok else 502,
                work=work.body if work.ok else None,
                error=None if work.ok else work.detail(), now=now(), flash=None,
                presences=PRESENCES)


@router.get("/inbox/work", response_class=HTMLResponse)
async def inbox_work(request: Request, session: SessionDep, backend: BackendDep) -> Response:
    if session.who.agent_id is None:
        return _no_agent(request, session)
    return await _work(request, backend, session)


@router.get("/inbox/stream")
async def inbox_stream(request: Request, session: SessionDep,
                       backend: BackendDep) -> Response:
    """The inbox's work list again whenever router reports an offer made or withdrawn."""
    agent_id = session.who.agent_id
    if agent_id is None:
        return _no_agent(request, session)
    request.state.console_session = session

    async def events() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async for _ in backend.offer_events(session.api_key, agent_id):
            work = await backend.agent_work(session.api_key, agent_id)
            if work.ok:
                html = page(request, "_work.html", work=work.body, now=now(), flash=None,
                            presences=PRESENCES).body.decode()
                yield sse_html("work", html)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


def _done(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


@router.post("/inbox/offers/{ticket_id}/{verb}")
async def answer(request: Request, ticket_id: TicketId, verb: Literal["accept", "decline"],
                 session: CheckedDep, backend: BackendDep) -> Response:
    if session.who.agent_id is None:
        return _no_agent(request, session)
    result = await backend.answer(session.api_key, ticket_id, session.who.agent_id, verb)
    flash = (f"{'Accepted' if verb == 'accept' else 'Declined'} the offer."
             if result.ok else f"Could not {verb}: {result.detail()}")
    if not _done(request):
        return RedirectResponse("/inbox", status_code=303)
    return await _work(request, backend, session, flash)


@router.post("/inbox/presence")
async def set_presence(request: Request, session: CheckedDep, backend: BackendDep,
                       presence: Annotated[Literal["available", "busy", "away", "offline"],
                                           Form()]) -> Response:
    if session.who.agent_id is None:
        return _no_agent(request, session)
    result = await backend.presence(session.api_key, session.who.agent_id, presence)
    flash = f"You are {presence}." if result.ok else f"Could not: {result.detail()}"
    if not _done(request):
        return RedirectResponse("/inbox", status_code=303)
    return await _work(request, backend, session, flash)
