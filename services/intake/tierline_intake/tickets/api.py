"""Intake's REST endpoints."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException, Query
from fastapi.responses import JSONResponse

from tierline_intake.http_errors import ERRORS, IdempotencyKey, invalid, key_reused
from tierline_intake.idempotency import KeyReused, run_once
from tierline_intake.models import audit_log
from tierline_intake.tickets.audit import ENTITY
from tierline_intake.tickets.schemas import (
    EVENT_EXAMPLES,
    TICKET_EXAMPLE,
    HistoryEntry,
    TicketEventIn,
    TicketEventOut,
    TicketIn,
    TicketOut,
)
from tierline_intake.tickets.service import (
    EventRefused,
    InvalidInput,
    TicketNotFound,
    apply_event,
    get_history,
    get_ticket,
    log_ticket_or_deflect,
    ticket_out,
)
from tierline_shared import audit
from tierline_shared.auth.deps import Principal, require
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["tickets"])

# The scope check hands over the key it checked: the actor comes from it, not from a second
# dependency on the key (FastAPI solves every dependency's own tree per request, cached or
# not, and this is intake's busiest route).
TicketWriter = Annotated[Principal, require("tickets:write")]


@router.post("/tickets", status_code=201, response_model=TicketOut, responses=ERRORS)
async def create_ticket(runtime: RuntimeDep, writer: TicketWriter,
                        body: Annotated[TicketIn, Body(openapi_examples={
                            "incident": {"summary": "An incident from a portal",
                                         "value": TICKET_EXAMPLE}})],
                        idempotency_key: IdempotencyKey = None) -> Any:
    """Log an incident or service request with its full context. Type, category,
    subcategory, impact, urgency and priority are inferred when absent, each with its
    reason in ``reasons``; a low-confidence category flags the ticket for triage."""
    actor = audit.Actor(writer.name, writer.key_id)
    try:
        status, payload, replayed = await run_once(
            runtime, key=idempotency_key, actor=actor, scope="POST /v1/tickets",
            payload=body.model_dump(mode="json"),
            effect=lambda session: log_ticket_or_deflect(runtime, session, body),
            # A ticket only reads (its requester) before its one write; a deflected one
            # reads its article and changes the ticket after logging it.
            look_first=False, one_statement=body.deflected_by is None)
    except InvalidInput as exc:
        raise invalid(exc) from None
    except KeyReused:
        raise key_reused() from None
    headers = {"Location": f"/v1/tickets/{payload['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(payload, status_code=status, headers=headers)


@router.get("/tickets/{ticket_id}", response_model=TicketOut, responses={404: ERRORS[404]},
            dependencies=[require("tickets:read")])
async def read_ticket(ticket_id: UUID, session: SessionDep) -> Any:
    row = await get_ticket(session, ticket_id)
    if row is None:
        raise HTTPException(404, error_body("not_found", f"no ticket {ticket_id}"))
    return ticket_out(row)


@router.get("/tickets/{ticket_id}/history", response_model=list[HistoryEntry],
            responses={404: ERRORS[404]},
            dependencies=[require("tickets:read")])
async def read_history(ticket_id: UUID, session: SessionDep) -> Any:
    """Every change to the ticket, oldest first."""
    if await get_ticket(session, ticket_id) is None:
        raise HTTPException(404, error_body("not_found", f"no ticket {ticket_id}"))
    return await get_history(session, ticket_id)


@router.get("/tickets/{ticket_id}/audit", response_model=audit.AuditPage,
            responses={404: ERRORS[404], 422: ERRORS[422]},
            dependencies=[require("tickets:read")])
async def read_audit(ticket_id: UUID, session: SessionDep,
                     limit: int = Query(100, ge=1, le=500),
                     offset: int = Query(0, ge=0, le=1_000_000)) -> Any:
    """Who changed what on the ticket, oldest first: each entry has the action, the actor
    (the API key's name and id, or ``system:<service>`` for changes made on events and
    timers), when, and the changed fields with their values before and after (personal
    data redacted)."""
    if await get_ticket(session, ticket_id) is None:
        raise HTTPException(404, error_body("not_found", f"no ticket {ticket_id}"))
    return await audit.page(session, audit_log, entity_type=ENTITY, entity_id=ticket_id,
                            limit=limit, offset=offset)


@router.post("/tickets/{ticket_id}/events", response_model=TicketEventOut, responses=ERRORS,
             dependencies=[require("tickets:write")])
async def post_event(ticket_id: UUID, runtime: RuntimeDep, actor: ActorDep,
                     body: Annotated[TicketEventIn, Body(openapi_examples=EVENT_EXAMPLES)],
                     idempotency_key: IdempotencyKey = None) -> Any:
    """A lifecycle event: a status change, a comment, a reassignment request, the
    customer's reply to a resolution (confirms and closes, or reopens), a CSAT or NPS
    answer. Each is recorded in the ticket's history and published on Kafka."""
    try:
        status, payload, replayed = await run_once(
            runtime, key=idempotency_key, actor=actor,
            scope=f"POST /v1/tickets/{ticket_id}/events",
            payload=body.model_dump(mode="json"),
            effect=lambda session: apply_event(runtime, session, ticket_id, body))
    except TicketNotFound:
        raise HTTPException(404, error_body("not_found", f"no ticket {ticket_id}")) from None
    except InvalidInput as exc:
        raise invalid(exc) from None
    except EventRefused as exc:
        raise HTTPException(409, error_body("transition_refused", exc.why, status=exc.status,
                                            allowed=list(exc.allowed))) from None
    except KeyReused:
        raise key_reused() from None
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(payload, status_code=status, headers=headers)
