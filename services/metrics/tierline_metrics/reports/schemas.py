"""Response bodies of the reports: the SLA events feed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

_EXAMPLE = {"ticket_id": "0b7e4f0e-6c1d-4a43-9a51-2b1f8f3d2c10", "kind": "breach",
            "clock": "first_response", "priority": "P2", "threshold_percent": None,
            "at": "2026-11-30T09:30:00Z"}


class SlaEventOut(BaseModel):
    ticket_id: UUID
    kind: str
    clock: str
    priority: str
    threshold_percent: int | None
    at: datetime


class SlaEventList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_EXAMPLE]}]})
    items: list[SlaEventOut]
