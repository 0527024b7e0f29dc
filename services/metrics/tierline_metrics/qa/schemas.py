"""Request bodies of the QA endpoints: a QA evaluation and an ESAT answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

AgentId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Score = Annotated[int, Field(ge=1, le=5)]


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "agent_id": "ana", "ticket_id": None, "evaluator": "qa-lead", "knowledge": 4,
        "attitude": 5, "process": 3, "comment": "skipped the identity check",
        "evaluated_at": "2026-11-25T10:00:00Z"}]})
    agent_id: AgentId
    ticket_id: uuid.UUID | None = None
    evaluator: Annotated[str, Field(min_length=1, max_length=64)]
    knowledge: Score
    attitude: Score
    process: Score = Field(description="adherence to the process")
    comment: Annotated[str, Field(max_length=4000)] | None = None
    evaluated_at: AwareDatetime


class EsatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "agent_id": "ana", "question": "workload", "score": 4,
        "answered_at": "2026-11-25T17:00:00Z"}]})
    agent_id: AgentId
    question: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
    score: Score
    comment: Annotated[str, Field(max_length=4000)] | None = None
    answered_at: AwareDatetime
