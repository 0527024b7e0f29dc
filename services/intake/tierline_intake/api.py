"""Intake's REST endpoints."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Response

from tierline_intake.schemas import TicketIn, TicketOut
from tierline_intake.service import IdempotencyConflict, get_ticket, log_ticket
from tierline_shared.web import RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["tickets"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                              max_length=200)]


def _out(row: dict[str, Any]) -> TicketOut:
    return TicketOut(type=row["ticket_type"], **{k: v for k, v in row.items()
                                                 if k in TicketOut.model_fields})


@router.post("/tickets", status_code=201, response_model=TicketOut,
             responses={409: {"description": "Idempotency-Key reused with another body"},
                        422: {"description": "Invalid body"}})
async def create_ticket(body: TicketIn, runtime: RuntimeDep, response: Response,
                        idempotency_key: IdempotencyKey = None) -> TicketOut:
    """Log an incident or service request; it is categorized and prioritized at once."""
    taxonomy = runtime.state["taxonomy"]
    if body.category is not None and body.category not in taxonomy.categories:
        raise HTTPException(422, error_body("validation_error", [{
            "field": "body.category", "type": "enum",
            "message": f"unknown category; expected one of {sorted(taxonomy.categories)}"}]))
    try:
        row, created = await log_ticket(runtime, body, idempotency_key)
    except IdempotencyConflict:
        raise HTTPException(409, error_body(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body")) from None
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/tickets/{row['id']}"
    return _out(row)


@router.get("/tickets/{ticket_id}", response_model=TicketOut,
            responses={404: {"description": "No such ticket"}})
async def read_ticket(ticket_id: UUID, session: SessionDep) -> TicketOut:
    row = await get_ticket(session, ticket_id)
    if row is None:
        raise HTTPException(404, error_body("not_found", f"no ticket {ticket_id}"))
    return _out(row)
