"""The privacy API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tierline_intake.privacy.service import STORES
from tierline_intake.tickets.schemas import Email

RequesterId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=200,
                                               pattern=r"^[^\x00-\x1f\x7f]+$")]


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"requester_id": "u-1001", "email": "ada@example.com"}]})
    requester_id: RequesterId | None = Field(
        default=None, description="the requester id tickets carry (and the customer id of "
        "the directory)")
    email: Email | None = Field(default=None, description="the person's email address: "
                                "finds tickets and directory records under other ids too")

    @model_validator(mode="after")
    def _someone(self) -> ErasureIn:
        if self.requester_id is None and self.email is None:
            raise ValueError("name the requester: requester_id, email or both")
        return self


class ErasureOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "5b1f0c1e-8a53-4a3e-9d7f-0c2e6a9b1d44", "requested_by": "privacy-desk",
        "requested_at": "2026-11-25T10:00:00Z", "pseudonym": "erased-3f9a0c1d2e4b5a6c",
        "counts": {**dict.fromkeys(STORES, 0), "tickets": 3, "ticket_history": 9,
                   "customers": 1},
        "tickets_announced": 3, "repeat_of": None}]})
    id: UUID
    requested_by: str = Field(description="the name of the API key that asked")
    requested_at: datetime
    pseudonym: str = Field(description="what the requester id became everywhere")
    counts: dict[str, int] = Field(description="rows changed in each of intake's stores")
    tickets_announced: int = Field(description="tickets whose erasure was published to the "
                                   "other services (one TicketRequesterErased each)")
    repeat_of: UUID | None = Field(default=None, description="an earlier erasure of the same "
                                   "requester id or email")
