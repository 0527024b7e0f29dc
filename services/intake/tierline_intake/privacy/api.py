"""REST endpoints of the right to erasure: erase one requester, read an erasure back."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tierline_intake.kb.service import kb_index
from tierline_intake.privacy.service import STORES, RequesterUnknown, erase, get_erasure
from tierline_intake.tickets.schemas import Email
from tierline_shared import audit
from tierline_shared.auth.deps import Principal, require
from tierline_shared.web import RuntimeDep, SessionDep, error_body

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
Admin = Annotated[Principal, require("admin")]
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


def _out(record: dict[str, Any]) -> dict[str, Any]:
    return ErasureOut.model_validate(record).model_dump(mode="json")


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Nothing is held about this requester and they were never erased"},
    422: {"description": "Invalid body: the body names the field"},
}


@router.post("/erasures", status_code=202, response_model=ErasureOut,
             responses={**ERRORS, 200: {"description": "Already erased: nothing was left to "
                                                       "change; the repeat is recorded",
                                         "model": ErasureOut}})
async def create_erasure(body: ErasureIn, runtime: RuntimeDep, principal: Admin) -> Any:
    """Erase one requester's personal data (the right to erasure), found by requester id
    and/or email: in one transaction intake replaces the requester id with a stable
    pseudonym, removes name and email, erases the customer's own words and cuts their
    identifiers out of other text, in tickets, history, the customer directory, chat and
    IVR contacts, stored idempotent responses, webhook deliveries and knowledge-base
    proposals. Counts, categories, priorities, statuses and timestamps stay, so reports do
    not change. Each of their tickets gets a ``tierline.ticket.requester_erased.v1`` event
    (no personal data in it) so router, sla and metrics anonymize their copies: 202.
    Asking again is harmless: 200 with zero counts, ``repeat_of`` naming the first."""
    try:
        async with runtime.transaction(audit.Actor(principal.name, principal.key_id)) as uow:
            record = await erase(runtime, uow.session, requester_id=body.requester_id,
                                 email=body.email, requested_by=principal.name)
    except RequesterUnknown:
        raise HTTPException(404, error_body(
            "requester_not_found", "no ticket, customer record or contact holds this "
            "requester id or email, and it was never erased")) from None
    if record["counts"].get("kb_articles"):  # text rewritten in place: refit the index
        await kb_index(runtime).refresh(runtime, force=True)
    log.info("requester erased", extra={"erasure_id": str(record["id"]),
                                        "pseudonym": record["pseudonym"],
                                        "requested_by": principal.name,
                                        "tickets": record["tickets_announced"]})
    changed = any(record["counts"].values())
    return JSONResponse(_out(record), status_code=202 if changed else 200,
                        headers={"Location": f"/v1/privacy/erasures/{record['id']}"})


@router.get("/erasures/{erasure_id}", response_model=ErasureOut,
            responses={404: {"description": "No such erasure"}, 422: ERRORS[422]},
            dependencies=[require("admin")])
async def read_erasure(erasure_id: UUID, session: SessionDep) -> Any:
    """An erasure as recorded: who asked, when, the pseudonym and what changed."""
    record = await get_erasure(session, erasure_id)
    if record is None:
        raise HTTPException(404, error_body("not_found", f"no erasure {erasure_id}"))
    return _out(record)
