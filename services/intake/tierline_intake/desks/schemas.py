"""What the connection endpoints answer, with the examples the OpenAPI document shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

CONNECTION_OUT_EXAMPLE: dict[str, Any] = {
    "id": "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f", "name": "acme-snow",
    "system": "servicenow", "base_url": "https://acme.service-now.com", "auth": "basic",
    "credentials": {"password": "***", "username": "***"}, "inbound_secret_set": True,
    "active": True, "max_attempts": 10, "backoff_s": 5.0, "timeout_s": 10.0,
    "circuit_failures": 0, "circuit_open_until": None,
    "created_at": "2026-11-30T09:00:00+00:00", "updated_at": "2026-11-30T09:00:00+00:00"}
WRITEBACK_EXAMPLE: dict[str, Any] = {
    "id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "connection_id": CONNECTION_OUT_EXAMPLE["id"],
    "event_id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
    "ticket_id": "0b8e1c2a-4f5d-4c1e-9a7b-2d3c4e5f6a7b", "agent_id": "ana",
    "target": {"external_id": "9d385017c611228701d22104cc95c371", "table": "incident",
               "user": "5137153cc611227c000bbd1bd8cd2005",
               "group": "287ebd7da9fe198100f92cc8d1d2154e",
               "note": "Tierline assigned this to ana (ana) - chosen: ana [created]."},
    "status": "delivered", "attempts": 2, "steps_done": ["assign"],
    "last_status_code": 200, "last_error": None,
    "log": [{"attempt": 1, "at": "2026-11-30T09:05:00+00:00", "status_code": 503,
             "error": "HTTP 503 on GET /api/now/table/incident/9d38...", "steps": [],
             "skipped": False, "duration_ms": 41.2},
            {"attempt": 2, "at": "2026-11-30T09:05:06+00:00", "status_code": 200,
             "error": None, "steps": ["assign"], "skipped": False, "duration_ms": 80.3}],
    "next_attempt_at": "2026-11-30T09:05:06+00:00", "created_at": "2026-11-30T09:05:00+00:00",
    "delivered_at": "2026-11-30T09:05:06+00:00"}


class ConnectionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CONNECTION_OUT_EXAMPLE]})
    id: str
    name: str
    system: str
    base_url: str
    auth: str
    credentials: dict[str, str]
    inbound_secret_set: bool
    active: bool
    max_attempts: int
    backoff_s: float
    timeout_s: float
    circuit_failures: int
    circuit_open_until: str | None
    created_at: str
    updated_at: str


class WritebackOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [WRITEBACK_EXAMPLE]})
    id: str
    connection_id: str
    event_id: str
    ticket_id: str
    agent_id: str
    target: dict[str, Any]
    status: Literal["pending", "delivered", "dead", "unmapped"]
    attempts: int
    steps_done: list[str]
    last_status_code: int | None
    last_error: str | None
    log: list[dict[str, Any]]
    next_attempt_at: str
    created_at: str
    delivered_at: str | None
