"""REST endpoints of desk connections (admin) and their write-back log.

Credentials and the inbound secret are sealed at rest (:mod:`vault`) and never come back:
answers, audit entries and logs name which credential fields are set, not their values.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from tierline_intake.desks.schemas import ConnectionOut, WritebackOut
from tierline_intake.desks.vault import redacted
from tierline_intake.desks.vendors import AUTHS, CREDENTIAL_FIELDS
from tierline_intake.desks.writeback import vault, writeback_out
from tierline_intake.http_errors import ERRORS
from tierline_intake.models import audit_log, desk_connections, desk_writebacks
from tierline_shared import audit
from tierline_shared.auth.deps import require
from tierline_shared.pagination import Limit, Offset, fetch_page, page, page_of
from tierline_shared.runtime import Runtime
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1/connections", tags=["connections"])

ENTITY = "desk_connection"
Secret = Annotated[str, StringConstraints(min_length=1, max_length=2000)]

CONNECTION_EXAMPLE: dict[str, Any] = {
    "name": "acme-snow", "system": "servicenow", "base_url": "https://acme.service-now.com",
    "auth": "basic", "credentials": {"username": "tierline.integration",
                                     "password": "an-integration-user-password"},
    "inbound_secret": "a-long-random-shared-secret", "max_attempts": 10, "backoff_s": 5,
    "timeout_s": 10}


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        CONNECTION_EXAMPLE]})
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = Field(
        description="what agents' desk_ids in router are keyed by")
    system: Literal["servicenow", "jira", "zendesk"]
    base_url: AnyHttpUrl = Field(description="https://<instance>.service-now.com, "
                                 "https://<site>.atlassian.net, https://<sub>.zendesk.com")
    auth: Literal["basic", "bearer", "api_token"] = Field(
        description="servicenow: basic (username, password) or bearer (token, OAuth); jira: "
        "basic (email, api_token); zendesk: api_token (email, api_token)")
    credentials: dict[str, Secret] | None = Field(
        default=None, description="required on create; on replace, absent keeps the stored ones")
    inbound_secret: Annotated[str, StringConstraints(min_length=16, max_length=500)] | None = \
        Field(default=None, description="the secret the desk signs its webhooks with (Jira, "
              "Zendesk) or the ServiceNow basic-auth password 'tierline:<secret>'")
    active: bool = True
    max_attempts: int = Field(default=10, ge=1, le=50)
    backoff_s: float = Field(default=5.0, ge=0.01, le=3600)
    timeout_s: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _auth_fits(self) -> ConnectionIn:
        if self.auth not in AUTHS[self.system]:
            raise ValueError(f"auth: {self.system} takes {' or '.join(AUTHS[self.system])}")
        if self.credentials is not None:
            wanted = CREDENTIAL_FIELDS[(self.system, self.auth)]
            missing = [f for f in wanted if f not in self.credentials]
            extra = sorted(set(self.credentials) - set(wanted))
            if missing or extra:
                raise ValueError(f"credentials: {self.system} {self.auth} takes exactly "
                                 f"{', '.join(wanted)}" + (f"; missing {', '.join(missing)}"
                                                          if missing else "")
                                 + (f"; unknown {', '.join(extra)}" if extra else ""))
        return self


def connection_out(row: Any) -> dict[str, Any]:
    """A connection as the API shows it: which credential fields are set, never values."""
    fields = CREDENTIAL_FIELDS[(row["system"], row["auth"])]
    out = {k: row[k] for k in ("name", "system", "base_url", "auth", "active", "max_attempts",
                               "backoff_s", "timeout_s", "circuit_failures")}
    out.update(id=str(row["id"]), credentials=redacted(dict.fromkeys(fields, "")),
               inbound_secret_set=row["inbound_secret"] is not None,
               circuit_open_until=row["circuit_open_until"].isoformat()
               if row["circuit_open_until"] else None,
               created_at=row["created_at"].isoformat(),
               updated_at=row["updated_at"].isoformat())
    return out


def missing_field(what: str, ident: UUID) -> HTTPException:
    return HTTPException(404, error_body("not_found", f"no {what} {ident}"))


def _values(runtime: Runtime, body: ConnectionIn) -> dict[str, Any]:
    values = body.model_dump(exclude={"credentials", "inbound_secret"}, mode="json")
    values["base_url"] = str(body.base_url).rstrip("/")
    if body.credentials is not None:
        values["credentials"] = vault(runtime).seal(body.credentials)
    if body.inbound_secret is not None:
        values["inbound_secret"] = vault(runtime).seal(body.inbound_secret)
    return values


def _audited(row: Any) -> dict[str, Any]:
    out = connection_out(row)
    return {k: v for k, v in out.items() if k not in ("id", "created_at", "updated_at",
                                                       "circuit_failures", "circuit_open_until")}


@router.post("", status_code=201, response_model=ConnectionOut, responses={
    409: {"description": "The name is taken"}, 422: ERRORS[422]},
             dependencies=[require("admin")])
async def create(body: ConnectionIn, runtime: RuntimeDep, actor: ActorDep) -> Any:
    """Connect a ServiceNow instance, Jira site or Zendesk subdomain."""
    if body.credentials is None:
        raise HTTPException(422, error_body("validation_error", [
            {"field": "body.credentials", "message": "required when creating a connection",
             "type": "missing"}]))
    now = runtime.clock.now()
    try:
        async with runtime.transaction(actor) as uow:
            session = uow.session
            row = (await session.execute(desk_connections.insert().values(
                id=uuid4(), created_at=now, updated_at=now, circuit_failures=0,
                **_values(runtime, body)).returning(desk_connections))).one()._mapping
            await audit.record(runtime, session, audit_log, entity_type=ENTITY,
                               entity_id=row["id"], action="created",
                               changes=audit.diff({}, _audited(row)))
    except IntegrityError:
        raise HTTPException(409, error_body("conflict", f"a connection named {body.name} "
                                            "exists")) from None
    return connection_out(row)


@router.get("", response_model=page_of(ConnectionOut), responses={422: ERRORS[422]},
            dependencies=[require("admin")])
async def list_connections(session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> Any:
    rows, total = await fetch_page(session, select(desk_connections).order_by(
        desk_connections.c.name), limit, offset)
    return page([connection_out(r._mapping) for r in rows], total, limit, offset)


@router.get("/{connection_id}", response_model=ConnectionOut,
            responses={404: ERRORS[404], 422: ERRORS[422]}, dependencies=[require("admin")])
async def read(connection_id: UUID, session: SessionDep) -> Any:
    row = (await session.execute(select(desk_connections).where(
        desk_connections.c.id == connection_id))).first()
    if row is None:
        raise missing_field("connection", connection_id)
    return connection_out(row._mapping)


@router.put("/{connection_id}", response_model=ConnectionOut,
            responses={404: ERRORS[404], 409: {"description": "The name is taken"},
                       422: ERRORS[422]},
            dependencies=[require("admin")])
async def replace(connection_id: UUID, body: ConnectionIn, runtime: RuntimeDep,
                  actor: ActorDep) -> Any:
    """Replace a connection's settings; credentials and the inbound secret stay unless
    given. Changing system or auth needs new credentials."""
    async with runtime.transaction(actor) as uow:
        session = uow.session
        found = (await session.execute(select(desk_connections).where(
            desk_connections.c.id == connection_id).with_for_update())).first()
        if found is None:
            raise missing_field("connection", connection_id)
        if body.credentials is None and (found.system, found.auth) != (body.system, body.auth):
            raise HTTPException(422, error_body("validation_error", [
                {"field": "body.credentials", "message": "new system or auth: give its "
                 "credentials", "type": "missing"}]))
        try:
            row = (await session.execute(update(desk_connections).where(
                desk_connections.c.id == connection_id).values(
                updated_at=runtime.clock.now(), **_values(runtime, body))
                .returning(desk_connections))).one()._mapping
        except IntegrityError:
            raise HTTPException(409, error_body("conflict", f"a connection named {body.name} "
                                                "exists")) from None
        changes = audit.diff(_audited(found._mapping), _audited(row))
        if body.credentials is not None:
            changes["credentials"] = {"before": "[redacted]", "after": "[replaced]"}
        await audit.record(runtime, session, audit_log, entity_type=ENTITY,
                           entity_id=connection_id, action="updated", changes=changes)
    return connection_out(row)


@router.delete("/{connection_id}", response_model=ConnectionOut,
               responses={404: ERRORS[404], 422: ERRORS[422]}, dependencies=[require("admin")])
async def remove(connection_id: UUID, runtime: RuntimeDep, actor: ActorDep) -> Any:
    """Forget a connection and its sealed secrets; write-backs still queued for it die."""
    async with runtime.transaction(actor) as uow:
        session = uow.session
        row = (await session.execute(delete(desk_connections).where(
            desk_connections.c.id == connection_id).returning(desk_connections))).first()
        if row is None:
            raise missing_field("connection", connection_id)
        await session.execute(update(desk_writebacks).where(
            desk_writebacks.c.connection_id == connection_id,
            desk_writebacks.c.status == "pending").values(
            status="dead", last_error="the connection was deleted"))
        await audit.record(runtime, session, audit_log, entity_type=ENTITY,
                           entity_id=connection_id, action="deleted",
                           changes=audit.diff(_audited(row._mapping), {}))
    return connection_out(row._mapping)


@router.get("/{connection_id}/writebacks", response_model=page_of(WritebackOut),
            responses={422: ERRORS[422]}, dependencies=[require("admin")])
async def writebacks(connection_id: UUID, session: SessionDep, ticket_id: UUID | None = None,
                     status: Literal["pending", "delivered", "dead", "unmapped"] | None = None,
                     limit: Limit = 100, offset: Offset = 0) -> Any:
    """The write-back log, newest first: every try with its status code, error, the steps
    it did and whether the desk already had it."""
    w = desk_writebacks.c
    query = select(desk_writebacks).where(w.connection_id == connection_id).order_by(
        w.created_at.desc(), w.id)
    for column, value in ((w.ticket_id, ticket_id), (w.status, status)):
        if value is not None:
            query = query.where(column == value)
    rows, total = await fetch_page(session, query, limit, offset)
    return page([writeback_out(r._mapping) for r in rows], total, limit, offset)


@router.post("/{connection_id}/writebacks/{writeback_id}/redeliver",
             response_model=WritebackOut, responses={
                 404: ERRORS[404], 409: {"description": "Only a dead write-back is redelivered"},
                 422: ERRORS[422]},
             dependencies=[require("admin")])
async def redeliver(connection_id: UUID, writeback_id: UUID, runtime: RuntimeDep) -> Any:
    """Give a dead write-back a fresh set of tries (409 unless it is dead); what the desk
    already shows is not written twice."""
    w = desk_writebacks.c
    async with runtime.transaction() as uow:
        session = uow.session
        row = (await session.execute(select(desk_writebacks).where(
            w.id == writeback_id, w.connection_id == connection_id).with_for_update())).first()
        if row is None:
            raise missing_field("write-back", writeback_id)
        if row.status != "dead":
            raise HTTPException(409, error_body("conflict", f"the write-back is {row.status}; "
                                                "only a dead one is redelivered",
                                                status=row.status))
        row = (await session.execute(update(desk_writebacks).where(w.id == writeback_id).values(
            status="pending", attempts=0, next_attempt_at=runtime.clock.now())
            .returning(desk_writebacks))).one()
    return writeback_out(row._mapping)
