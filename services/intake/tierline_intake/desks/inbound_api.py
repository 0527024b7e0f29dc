"""Desk webhooks signed instead of keyed: ``POST /v1/adapters/{system}/connections/{name}``
takes what ``/v1/adapters/{system}`` takes, authenticated by the connection's inbound secret
(Jira ``X-Hub-Signature``, Zendesk ``X-Zendesk-Webhook-Signature`` + timestamp, ServiceNow
basic auth) instead of an ``X-API-Key``. A wrong, stale or replayed signature answers 401
with a JSON body; the ticket it carries belongs to that connection."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tierline_intake.adapters.domain import MAPPERS, MissingField
from tierline_intake.adapters.schemas import AdapterOut
from tierline_intake.adapters.service import ingest
from tierline_intake.desks import signatures as sig
from tierline_intake.desks.writeback import vault
from tierline_intake.http_errors import invalid, missing_field, unmappable
from tierline_intake.idempotency import run_once
from tierline_intake.models import desk_connections, inbound_signatures
from tierline_intake.tickets.service import InvalidInput
from tierline_shared.audit import Actor
from tierline_shared.web import RuntimeDep, error_body

router = APIRouter(prefix="/v1/adapters", tags=["adapters"])

KEEP_SEEN = sig.TOLERANCE * 2


def _refused(why: str) -> HTTPException:
    return HTTPException(401, error_body("unauthorized", why))


def _check(system: str, secret: str, request: Request, body: bytes,
           now: Any) -> str | None:
    """Verify the request; returns what identifies it against replays (None for basic auth,
    which signs nothing: a repeated body is a duplicate, changing nothing, as with a key)."""
    h = request.headers
    if system == "jira":
        sig.verify_jira(secret, h.get(sig.JIRA_HEADER), body, now)
        return sig.digest(h[sig.JIRA_HEADER], body)
    if system == "zendesk":
        sig.verify_zendesk(secret, h.get(sig.ZENDESK_HEADER), h.get(sig.ZENDESK_TIMESTAMP),
                           body, now)
        return sig.digest(h[sig.ZENDESK_HEADER], h[sig.ZENDESK_TIMESTAMP], body)
    sig.verify_basic(secret, h.get("authorization"))
    return None


@router.post("/{system}/connections/{name}", status_code=201, response_model=AdapterOut,
             responses={401: {"description": "Wrong, stale or replayed signature"},
                        422: {"description": "The body names the field"}})
async def receive_signed(system: Literal["servicenow", "jira", "zendesk"], request: Request,
                         runtime: RuntimeDep,
                         name: str = Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")) -> Any:
    """Take a desk's payload signed with the connection's inbound secret (no API key)."""
    body = await request.body()
    now = runtime.clock.now()
    async with runtime.sessions() as session:
        conn = (await session.execute(select(desk_connections).where(
            desk_connections.c.name == name, desk_connections.c.system == system,
            desk_connections.c.active.is_(True)))).first()
    if conn is None or conn.inbound_secret is None:
        raise _refused(f"no active {system} connection {name} with an inbound secret")
    try:
        seen = _check(system, vault(runtime).open(conn.inbound_secret), request, body, now)
    except sig.Refused as exc:
        raise _refused(str(exc)) from None
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError:
        raise HTTPException(422, error_body("validation_error", [
            {"field": "body", "message": "a JSON object is required",
             "type": "json_invalid"}])) from None
    try:
        ext = MAPPERS[system](payload)
    except MissingField as exc:
        raise missing_field(exc) from None

    async def effect(session: Any) -> tuple[int, dict[str, Any]]:
        if seen is not None:
            await session.execute(delete(inbound_signatures).where(
                inbound_signatures.c.seen_at < now - KEEP_SEEN))
            fresh = await session.scalar(pg_insert(inbound_signatures).values(
                digest=seen, connection_id=conn.id, seen_at=now).on_conflict_do_nothing()
                .returning(inbound_signatures.c.digest))
            if fresh is None:
                raise _refused("replayed: this signed request was already accepted")
        return await ingest(runtime, session, ext, payload, conn.id)

    try:
        status, out, _ = await run_once(
            runtime, key=None, actor=Actor(f"{system}:{name}"),
            scope=f"POST /v1/adapters/{system}/connections", payload=payload, effect=effect)
    except ValidationError as exc:
        raise unmappable(exc) from None
    except InvalidInput as exc:
        raise invalid(exc) from None
    return JSONResponse(out, status_code=status,
                        headers={"Location": f"/v1/tickets/{out['ticket']['id']}"})


