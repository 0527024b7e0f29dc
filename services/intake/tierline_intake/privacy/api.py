"""REST endpoints of the right to erasure: erase one requester, read an erasure back."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from tierline_intake.kb.service import kb_index
from tierline_intake.privacy.schemas import (
    ErasureIn,
    ErasureOut,
)
from tierline_intake.privacy.service import RequesterUnknown, erase, get_erasure
from tierline_shared import audit
from tierline_shared.auth.deps import Principal, require
from tierline_shared.web import RuntimeDep, SessionDep, error_body

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
Admin = Annotated[Principal, require("admin")]
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
