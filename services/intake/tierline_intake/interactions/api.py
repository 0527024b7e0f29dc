"""REST endpoints for chat and IVR fronts: interaction events, and reading a contact back."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tierline_intake.http_errors import ERRORS, IdempotencyKey, invalid, key_reused
from tierline_intake.idempotency import KeyReused, run_once
from tierline_intake.interactions.service import (
    InteractionNotFound,
    InteractionRefused,
    apply_interaction,
    chain_history,
    get_interaction,
    interaction_out,
    ticket_interactions,
)
from tierline_intake.tickets.schemas import Text200, Text5000
from tierline_intake.tickets.service import InvalidInput, get_ticket
from tierline_shared.auth.deps import require
from tierline_shared.bus.events import (
    Channel,
    InteractionKind,
    InteractionOccurred,
    interaction_missing,
)
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["interactions"])

INTERACTION_EXAMPLES: dict[str, dict[str, Any]] = {
    "chat_started": {"summary": "A chat starts", "value": {
        "interaction_id": "chat-7f3a", "kind": "contact_started", "channel": "chat",
        "customer_id": "u-1001", "customer_name": "Ada Park",
        "about": "My VPN keeps disconnecting"}},
    "message": {"summary": "The customer writes", "value": {
        "interaction_id": "chat-7f3a", "kind": "message", "author": "customer",
        "text": "It drops every five minutes since this morning"}},
    "ivr_menu": {"summary": "An IVR caller's menu path", "value": {
        "interaction_id": "call-19", "kind": "ivr_menu", "menu_path": ["IT", "Network", "VPN"]}},
    "self_service": {"summary": "Self-service resolved it", "value": {
        "interaction_id": "chat-7f3a", "kind": "self_service", "outcome": "resolved",
        "article_id": "5f0c1d3e-8a2b-4c6d-9e0f-1a2b3c4d5e6f"}},
    "transfer": {"summary": "The chat is handed to phone", "value": {
        "interaction_id": "chat-7f3a", "kind": "transfer", "to_channel": "phone",
        "to_interaction_id": "call-20"}},
    "ended": {"summary": "The contact ends", "value": {
        "interaction_id": "call-20", "kind": "contact_ended"}},
    "csat": {"summary": "The customer's CSAT answer", "value": {
        "interaction_id": "call-20", "kind": "csat", "score": 5}},
}

INTERACTION_OUT_EXAMPLE: dict[str, Any] = {
    "id": "chat-7f3a", "channel": "chat", "customer_id": "u-1001", "customer_name": "Ada Park",
    "status": "open", "about": "My VPN keeps disconnecting", "transferred_from": None,
    "repeat": False, "deflected": False, "self_service_outcome": None, "csat": None,
    "suggestions": [{"article_id": "5f0c1d3e-8a2b-4c6d-9e0f-1a2b3c4d5e6f",
                     "title": "VPN drops: renew the VPN profile", "score": 0.62}],
    "ticket_id": None, "article_id": None, "started_at": "2026-11-24T09:00:00Z",
    "ended_at": None}


class InteractionIn(BaseModel):
    """One interaction event; the same fields as ``tierline.interaction.occurred.v1`` on the
    interactions topic, with ``occurred_at`` defaulting to now."""

    model_config = ConfigDict(extra="forbid")
    interaction_id: Text200
    kind: InteractionKind
    channel: Channel | None = None
    customer_id: Text200 | None = None
    customer_name: Text200 | None = None
    ticket_id: UUID | None = None
    about: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    transferred_from: Text200 | None = None
    author: Literal["customer", "agent", "bot"] | None = None
    agent_id: Text200 | None = None
    text: Text5000 | None = None
    menu_path: list[Text200] = Field(default_factory=list, max_length=20)
    outcome: Literal["resolved", "not_resolved", "abandoned"] | None = None
    article_id: UUID | None = None
    to_channel: Channel | None = None
    to_interaction_id: Text200 | None = None
    score: int | None = Field(default=None, ge=1, le=5)
    comment: Text5000 | None = None
    occurred_at: AwareDatetime | None = None


class InteractionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [INTERACTION_OUT_EXAMPLE]})
    id: str
    channel: str
    customer_id: str
    customer_name: str | None
    status: Literal["open", "ended", "transferred"]
    about: str | None
    transferred_from: str | None
    repeat: bool
    deflected: bool
    self_service_outcome: str | None
    csat: int | None
    suggestions: list[dict[str, Any]]
    ticket_id: str | None
    article_id: str | None
    started_at: str
    ended_at: str | None


class InteractionResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "interaction": INTERACTION_OUT_EXAMPLE, "effects": ["repeat_contact"]}]})
    interaction: InteractionOut
    effects: list[Literal["ticket_opened", "repeat_contact", "handed_off", "deflected"]]


class InteractionHistoryEntry(BaseModel):
    interaction_id: str
    channel: str
    kind: str
    at: str
    detail: dict[str, Any]


class InteractionDetail(InteractionOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **INTERACTION_OUT_EXAMPLE, "history": [{
            "interaction_id": "chat-7f3a", "channel": "chat", "kind": "contact_started",
            "at": "2026-11-24T09:00:00Z", "detail": {"about": "My VPN keeps disconnecting"}}]}]})
    history: list[InteractionHistoryEntry]


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
