"""The webhooks API's request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from tierline_intake.webhooks.domain import KINDS

Kind = Literal["assignment", "status", "sla_warning", "sla_breach", "escalation",
               "major_incident", "survey_requested"]
assert set(Kind.__args__) == set(KINDS)  # type: ignore[attr-defined]

SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "url": "https://acme.service-now.com/api/x_acme/tierline/events",
    "events": ["assignment", "status", "sla_breach"], "system": "servicenow",
    "max_attempts": 6, "backoff_s": 10, "timeout_s": 5}
SUBSCRIPTION_OUT_EXAMPLE: dict[str, Any] = {
    **SUBSCRIPTION_EXAMPLE, "id": "3e1f0c2a-7b5d-4e6f-8a9b-0c1d2e3f4a5b", "active": True,
    "created_at": "2026-11-24T09:00:00Z", "secret": "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0"}
DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
    "subscription_id": SUBSCRIPTION_OUT_EXAMPLE["id"],
    "event_id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "kind": "status",
    "event_type": "tierline.ticket.status_changed.v1",
    "ticket_id": "0b8e1c2a-4f5d-4c1e-9a7b-2d3c4e5f6a7b", "status": "delivered", "attempts": 2,
    "last_status_code": 200, "last_error": None,
    "log": [{"attempt": 1, "at": "2026-11-24T09:05:00Z", "status_code": 503,
             "error": "HTTP 503", "duration_ms": 41.2},
            {"attempt": 2, "at": "2026-11-24T09:05:10Z", "status_code": 200, "error": None,
             "duration_ms": 38.0}],
    "payload": {"kind": "status", "event_type": "tierline.ticket.status_changed.v1"},
    "next_attempt_at": "2026-11-24T09:05:10Z", "created_at": "2026-11-24T09:05:00Z",
    "delivered_at": "2026-11-24T09:05:10Z"}


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [SUBSCRIPTION_EXAMPLE]})
    url: AnyHttpUrl
    events: list[Kind] = Field(min_length=1, max_length=len(KINDS))
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] | None = Field(
        default=None, description="the HMAC-SHA256 key; generated (and shown once) if absent")
    system: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = Field(
        default=None, description="only events about tickets from this external system "
        "(servicenow, jira, zendesk); events without a ticket still go")
    authorization: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = \
        Field(default=None, description="sent as the Authorization header of each delivery "
              "(e.g. a survey tool's API token); stored sealed, never shown again")
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff_s: float = Field(default=10.0, ge=0.01, le=3600,
                             description="wait before the second try; doubles each time")
    timeout_s: float = Field(default=5.0, gt=0, le=30)


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SUBSCRIPTION_OUT_EXAMPLE]})
    id: str
    url: str
    events: list[str]
    system: str | None
    active: bool
    max_attempts: int
    backoff_s: float
    timeout_s: float
    created_at: str
    authorization_set: bool = False
    secret: str | None = Field(default=None, description="only in the answer that created it")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DELIVERY_EXAMPLE]})
    id: str
    subscription_id: str
    event_id: str
    kind: str
    event_type: str
    ticket_id: str | None
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    log: list[dict[str, Any]]
    payload: dict[str, Any]
    next_attempt_at: str
    created_at: str
    delivered_at: str | None
