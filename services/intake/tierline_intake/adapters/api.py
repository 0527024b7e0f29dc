"""REST endpoints for ServiceNow, Jira and Zendesk: each takes the payload its system sends."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException, Query
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import select

from tierline_intake.adapters.domain import MAPPERS, MissingField
from tierline_intake.adapters.schemas import (
    EXAMPLES,
    AdapterOut,
    UnmappedStatus,
)
from tierline_intake.adapters.service import ingest, unmapped_statuses
from tierline_intake.context import intake_context
from tierline_intake.http_errors import (
    ERRORS,
    IdempotencyKey,
    invalid,
    key_reused,
    missing_field,
    unmappable,
)
from tierline_intake.idempotency import KeyReused, run_once
from tierline_intake.models import desk_connections
from tierline_intake.tickets.service import InvalidInput
from tierline_shared.auth.deps import require
from tierline_shared.pagination import Limit, Offset, page_of
from tierline_shared.runtime import Runtime
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1/adapters", tags=["adapters"])

ConnectionQuery = Annotated[str | None, Query(
    max_length=64, description="the desk connection the ticket belongs to (its write-backs "
    "go there); default: the one active connection of this system")]


async def connection_named(runtime: Runtime, system: str, name: str | None) -> UUID | None:
    if name is None:
        return None
    async with runtime.sessions() as session:
        found = await session.scalar(select(desk_connections.c.id).where(
            desk_connections.c.name == name, desk_connections.c.system == system))
    if found is None:
        raise HTTPException(422, error_body("validation_error", [
            {"field": "query.connection", "message": f"no {system} connection named {name}",
             "type": "value_error"}]))
    return found


def _counter(runtime: Runtime) -> Counter:
    ctx = intake_context(runtime)
    if ctx.adapter_unmapped is None:
        ctx.adapter_unmapped = Counter(
            "tierline_adapter_unmapped_values",
            "External values (statuses, priorities) no mapping knew, by system.",
            ["system"], registry=runtime.registry)
    return ctx.adapter_unmapped


def _endpoint(system: str) -> Any:
    async def receive(runtime: RuntimeDep, actor: ActorDep,
                      body: Annotated[dict[str, Any], Body(openapi_examples={
                          system: {"summary": f"A {system} payload",
                                   "value": EXAMPLES[system]}})],
                      idempotency_key: IdempotencyKey = None,
                      connection: ConnectionQuery = None) -> Any:
        connection_id = await connection_named(runtime, system, connection)
        try:
            ext = MAPPERS[system](body)
        except MissingField as exc:
            raise missing_field(exc) from None
        try:
            status, payload, replayed = await run_once(
                runtime, key=idempotency_key, actor=actor, scope=f"POST /v1/adapters/{system}",
                payload=body, effect=lambda session: ingest(runtime, session, ext, body,
                                                           connection_id))
        except ValidationError as exc:
            raise unmappable(exc) from None
        except InvalidInput as exc:
            raise invalid(exc) from None
        except KeyReused:
            raise key_reused() from None
        if ext.unmapped and not replayed and payload["outcome"] != "duplicate":
            _counter(runtime).labels(system).inc(len(ext.unmapped))
        headers = {"Location": f"/v1/tickets/{payload['ticket']['id']}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(payload, status_code=status, headers=headers)

    receive.__doc__ = (f"Take a {system} ticket as {system} sends it: the first payload for an "
                       "external id logs a ticket (201), later ones update it (200): status, "
                       "priority. The same payload again changes nothing; a payload missing "
                       "what the mapping needs answers 422 naming its path; an unknown "
                       "external status is kept and listed in ``unmapped``.")
    return receive


for _system in MAPPERS:
    router.add_api_route(f"/{_system}", _endpoint(_system), methods=["POST"],
                         status_code=201, response_model=AdapterOut, responses=ERRORS,
                         name=f"ingest_{_system}", summary=f"Ingest a {_system} ticket",
                         dependencies=[require("tickets:write")])


@router.get("/unmapped-statuses", response_model=page_of(UnmappedStatus),
            responses={422: ERRORS[422]},
            dependencies=[require("tickets:read")])
async def list_unmapped(session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> Any:
    """External tickets whose latest status had no Tierline equivalent (kept as is), the
    latest first."""
    return await unmapped_statuses(session, limit, offset)
