"""REST endpoints for chat and IVR fronts: interaction events, and reading a contact back."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse

from tierline_intake.http_errors import ERRORS, IdempotencyKey, invalid, key_reused
from tierline_intake.idempotency import KeyReused, run_once
from tierline_intake.interactions.schemas import (
    INTERACTION_EXAMPLES,
    InteractionDetail,
    InteractionIn,
    InteractionOut,
    InteractionResult,
)
from tierline_intake.interactions.service import (
    InteractionNotFound,
    InteractionRefused,
    apply_interaction,
    chain_history,
    get_interaction,
    interaction_out,
    ticket_interactions,
)
from tierline_intake.tickets.service import InvalidInput, get_ticket
from tierline_shared.auth.deps import require
from tierline_shared.bus.events import (
    InteractionOccurred,
    interaction_missing,
)
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["interactions"])

@router.post("/interactions", status_code=201, response_model=InteractionResult,
             responses=ERRORS,
             dependencies=[require("tickets:write")])
async def post_interaction(runtime: RuntimeDep, actor: ActorDep,
                           body: Annotated[InteractionIn,
                                           Body(openapi_examples=INTERACTION_EXAMPLES)],
                           idempotency_key: IdempotencyKey = None) -> Any:
    """An interaction event from a chat or IVR front (the same as producing it on the
    interactions topic): 201 when a contact starts, 200 otherwise. ``effects`` says what it
    did to tickets: opened one, linked a repeat contact, handed off, deflected."""
    missing = interaction_missing(body.model_dump())
    if missing:
        raise HTTPException(422, error_body("validation_error", [
            {"field": f"body.{name}", "message": f"required for a {body.kind} interaction",
             "type": "missing"} for name in missing]))
    event = InteractionOccurred(**body.model_dump(exclude={"occurred_at"}),
                                occurred_at=body.occurred_at or runtime.clock.now())
    try:
        status, payload, replayed = await run_once(
            runtime, key=idempotency_key, actor=actor, scope="POST /v1/interactions",
            payload=body.model_dump(mode="json"),
            effect=lambda session: apply_interaction(runtime, session, event))
    except InteractionNotFound:
        raise HTTPException(404, error_body(
            "not_found", f"no interaction {body.interaction_id}; start it with "
                         "contact_started")) from None
    except InteractionRefused as exc:
        raise HTTPException(409, error_body("interaction_refused", exc.why,
                                            status=exc.status)) from None
    except InvalidInput as exc:
        raise invalid(exc) from None
    except KeyReused:
        raise key_reused() from None
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(payload, status_code=status, headers=headers)


@router.get("/interactions/{interaction_id}", response_model=InteractionDetail,
            responses={404: ERRORS[404], 422: ERRORS[422]},
            dependencies=[require("tickets:read")])
async def read_interaction(interaction_id: str, session: SessionDep) -> Any:
    """The contact, and the history of every leg it continues (a chat handed to phone shows
    the chat's messages before the call's)."""
    row = await get_interaction(session, interaction_id)
    if row is None:
        raise HTTPException(404, error_body("not_found", f"no interaction {interaction_id}"))
    return {**interaction_out(row), "history": await chain_history(session, interaction_id)}


@router.get("/tickets/{ticket_id}/interactions", response_model=list[InteractionOut],
            responses={404: ERRORS[404], 422: ERRORS[422]},
            dependencies=[require("tickets:read")])
async def read_ticket_interactions(ticket_id: UUID, session: SessionDep) -> Any:
    """The customer contacts linked to the ticket, oldest first."""
    if await get_ticket(session, ticket_id) is None:
        raise HTTPException(404, error_body("not_found", f"no ticket {ticket_id}"))
    return await ticket_interactions(session, ticket_id)
