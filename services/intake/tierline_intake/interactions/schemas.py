"""The interactions API's request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tierline_intake.tickets.schemas import Text200, Text5000
from tierline_shared.bus.events import (
    Channel,
    InteractionKind,
)

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
