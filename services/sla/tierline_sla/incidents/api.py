"""REST for major incidents (declare, link, post updates, restore, review, close) and
problems (list, record a workaround)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from tierline_shared.auth.deps import require
from tierline_shared.pagination import Limit, Offset, fetch_page, page
from tierline_shared.web import RuntimeDep, SessionDep, error_body
from tierline_sla.incidents import major
from tierline_sla.incidents import service as incidents
from tierline_sla.models import major_incidents, problems, tickets

router = APIRouter(prefix="/v1", tags=["major incidents and problems"])

Strict = ConfigDict(extra="forbid")
Who = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)]


class DeclareIn(BaseModel):
    model_config = Strict
    title: Line
    reason: Text
    declared_by: Who
    service: Who | None = Field(default=None, description="later incidents on this service "
                                "(or configuration item) link to this major incident")
    configuration_item: Who | None = None
    incident_manager: Who | None = None
    ticket_ids: list[UUID] = Field(default_factory=list, max_length=1000)


class ActionItemOut(BaseModel):
    id: int
    title: str
    owner: str
    due: date
    done: bool


class MajorIncidentOut(BaseModel):
    id: UUID
    title: str
    service: str | None
    status: str
    trigger: str
    rule: str | None
    reason: str
    declared_by: str
    incident_manager: str | None
    declared_at: datetime
    restored_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    last_update_at: datetime
    next_update_at: datetime | None = Field(description="when stakeholders are due an update; "
                                            "none once service is restored")
    root_cause: str | None
    action_items: list[ActionItemOut]
    ticket_ids: list[UUID]
    log: list[dict[str, Any]]


class UpdateIn(BaseModel):
    model_config = Strict
    type: Literal["update"]
    by: Who
    message: Text


class ManagerIn(BaseModel):
    model_config = Strict
    type: Literal["assign_manager"]
    by: Who
    manager: Who


class RestoreIn(BaseModel):
    model_config = Strict
    type: Literal["restore"]
    by: Who
    note: Text | None = None


class RootCauseIn(BaseModel):
    model_config = Strict
    type: Literal["root_cause"]
    by: Who
    root_cause: Text


class ActionItemIn(BaseModel):
    model_config = Strict
    type: Literal["action_item"]
    by: Who
    title: Line
    owner: Who
    due: date


class CompleteIn(BaseModel):
    model_config = Strict
    type: Literal["complete_action_item"]
    by: Who
    item_id: int = Field(ge=1)


class ResolveIn(BaseModel):
    model_config = Strict
    type: Literal["resolve"]
    by: Who
    note: Text | None = None


class CloseIn(BaseModel):
    model_config = Strict
    type: Literal["close"]
    by: Who
    note: Text | None = None


MajorIncidentEventIn = Annotated[
    UpdateIn | ManagerIn | RestoreIn | RootCauseIn | ActionItemIn | CompleteIn | ResolveIn
    | CloseIn, Field(discriminator="type")]


class LinkIn(BaseModel):
    model_config = Strict
    ticket_ids: list[UUID] = Field(min_length=1, max_length=1000)


class ProblemOut(BaseModel):
    id: UUID
    basis: str
    reason: str
    service: str | None
    category: str | None
    status: str
    ticket_ids: list[UUID]
    workaround: str | None
    identified_at: datetime


class WorkaroundIn(BaseModel):
    model_config = Strict
    by: Who
    title: Line = Field(description="a short title for the knowledge-base article")
    workaround: Text


def _not_found(what: str, ident: UUID) -> HTTPException:
    return HTTPException(404, error_body("not_found", f"no {what} {ident}"))


async def _out(session: Any, row: Any) -> MajorIncidentOut:
    return MajorIncidentOut(
        **{k: getattr(row, k) for k in (
            "id", "title", "service", "status", "trigger", "rule", "reason", "declared_by",
            "incident_manager", "declared_at", "restored_at", "resolved_at", "closed_at",
            "last_update_at", "next_update_at", "root_cause", "log")},
        action_items=[ActionItemOut(**item) for item in row.action_items],
        ticket_ids=await incidents.children(session, row.id))


@router.post("/major-incidents", status_code=201, response_model=MajorIncidentOut,
             responses={409: {"description": "A major incident is already open for this "
                                             "service or configuration item"}},
             dependencies=[require("tickets:write")])
async def declare(body: DeclareIn, runtime: RuntimeDep) -> MajorIncidentOut:
    """Declare a major incident by hand; its tickets are linked as children."""
    key = major.outage_key(body.service, body.configuration_item)
    async with runtime.transaction() as uow:
        session = uow.session
        known = set((await session.scalars(select(tickets.c.ticket_id).where(
            tickets.c.ticket_id.in_(body.ticket_ids)))).all()) if body.ticket_ids else set()
        missing = [str(t) for t in body.ticket_ids if t not in known]
        if missing:
            raise HTTPException(422, error_body("unknown_tickets", [
                {"field": "body.ticket_ids", "message": f"sla does not know ticket {t}"}
                for t in missing]))
        if key is not None:
            existing = await session.scalar(select(major_incidents.c.id).where(
                major_incidents.c.key == key, major_incidents.c.status == "declared"))
            if existing is not None:
                raise HTTPException(409, error_body(
                    "already_declared", f"major incident {existing} is already open for "
                    f"{key.split(':', 1)[1]!r}; link tickets to it instead",
                    major_incident_id=str(existing)))
        mi_id, _ = await incidents.declare(
            runtime, session, key=key, title=body.title, service=body.service, trigger="api",
            rule=None, reason=body.reason, declared_by=body.declared_by,
            incident_manager=body.incident_manager, ticket_ids=body.ticket_ids)
        row = await incidents.load(session, mi_id)
        out = await _out(session, row)
    return out


@router.get("/major-incidents",
            dependencies=[require("tickets:read")])
async def list_major_incidents(
        session: SessionDep,
        status: Literal["declared", "restored", "resolved", "closed"] | None = None,
        limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    where = [major_incidents.c.status == status] if status else []
    rows, total = await fetch_page(session, select(major_incidents).where(*where).order_by(
        major_incidents.c.declared_at.desc(), major_incidents.c.id), limit, offset)
    return page([(await _out(session, r)).model_dump(mode="json") for r in rows],
                total, limit, offset)


@router.get("/major-incidents/{mi_id}", response_model=MajorIncidentOut,
            responses={404: {"description": "No such major incident"}},
            dependencies=[require("tickets:read")])
async def get_major_incident(mi_id: UUID, session: SessionDep) -> MajorIncidentOut:
    row = await incidents.load(session, mi_id)
    if row is None:
        raise _not_found("major incident", mi_id)
    return await _out(session, row)


@router.post("/major-incidents/{mi_id}/tickets", response_model=MajorIncidentOut,
             responses={404: {"description": "No such major incident"},
                        409: {"description": "The major incident is closed"}},
             dependencies=[require("tickets:write")])
async def link_tickets(mi_id: UUID, body: LinkIn, runtime: RuntimeDep) -> MajorIncidentOut:
    async with runtime.transaction() as uow:
        session = uow.session
        row = await incidents.load(session, mi_id, for_update=True)
        if row is None:
            raise _not_found("major incident", mi_id)
        if row.status == "closed":
            raise HTTPException(409, error_body("closed", "a closed major incident takes no "
                                                "more tickets"))
        known = set((await session.scalars(select(tickets.c.ticket_id).where(
            tickets.c.ticket_id.in_(body.ticket_ids)))).all())
        missing = [str(t) for t in body.ticket_ids if t not in known]
        if missing:
            raise HTTPException(422, error_body("unknown_tickets", [
                {"field": "body.ticket_ids", "message": f"sla does not know ticket {t}"}
                for t in missing]))
        await incidents.link(runtime, session, mi_id, body.ticket_ids)
        out = await _out(session, row)
    return out


@router.post("/major-incidents/{mi_id}/events", response_model=MajorIncidentOut,
             responses={404: {"description": "No such major incident"},
                        409: {"description": "Not allowed in the incident's current state"}},
             dependencies=[require("tickets:write")])
async def major_incident_event(mi_id: UUID, body: Annotated[MajorIncidentEventIn, Body()],
                               runtime: RuntimeDep) -> MajorIncidentOut:
    """Move a major incident on: post a stakeholder update (resets the reminder cadence),
    name the incident manager, restore service, record the root cause and action items
    (only after restoration), resolve, and close (the post-incident review: needs a root
    cause and every action item done)."""
    now = runtime.clock.now()
    async with runtime.transaction() as uow:
        session = uow.session
        row = await incidents.load(session, mi_id, for_update=True)
        if row is None:
            raise _not_found("major incident", mi_id)
        mi = incidents.to_domain(row)
        note: str | None = getattr(body, "note", None)
        try:
            if isinstance(body, UpdateIn):
                mi, change, note = major.post_update(mi, now), "update_posted", body.message
            elif isinstance(body, ManagerIn):
                mi, change = major.assign_manager(mi, body.manager), "manager_assigned"
                note = body.manager
            elif isinstance(body, RestoreIn):
                mi, change = major.restore(mi, now), "restored"
            elif isinstance(body, RootCauseIn):
                mi, change = major.record_root_cause(mi, body.root_cause), "root_cause_recorded"
                note = body.root_cause
            elif isinstance(body, ActionItemIn):
                mi = major.add_action_item(mi, body.title, body.owner, body.due)
                change, note = "action_item_added", f"{body.title} ({body.owner}, {body.due})"
            elif isinstance(body, CompleteIn):
                mi, change = major.complete_action_item(mi, body.item_id), "action_item_completed"
                note = f"item {body.item_id}"
            elif isinstance(body, ResolveIn):
                mi, change = major.resolve(mi, now), "resolved"
            else:
                mi, change = major.close(mi, now), "closed"
        except major.MajorIncidentError as exc:
            raise HTTPException(409, error_body(exc.code, str(exc.message),
                                                status=row.status)) from None
        await incidents.save(runtime, session, row, mi, change, body.by, note)
        out = await _out(session, await incidents.load(session, mi_id))
    return out


def _problem(row: Any) -> ProblemOut:
    return ProblemOut(id=row.id, basis=row.basis, reason=row.reason, service=row.service,
                      category=row.category, status=row.status,
                      ticket_ids=[UUID(t) for t in row.ticket_ids], workaround=row.workaround,
                      identified_at=row.identified_at)


@router.get("/problems",
            dependencies=[require("tickets:read")])
async def list_problems(session: SessionDep, limit: Limit = 50,
                        offset: Offset = 0) -> dict[str, Any]:
    rows, total = await fetch_page(session, select(problems).order_by(
        problems.c.identified_at.desc(), problems.c.id), limit, offset)
    return page([_problem(r).model_dump(mode="json") for r in rows], total, limit, offset)


@router.get("/problems/{problem_id}", response_model=ProblemOut,
            responses={404: {"description": "No such problem"}},
            dependencies=[require("tickets:read")])
async def get_problem(problem_id: UUID, session: SessionDep) -> ProblemOut:
    row = (await session.execute(select(problems).where(problems.c.id == problem_id))).first()
    if row is None:
        raise _not_found("problem", problem_id)
    return _problem(row)


@router.put("/problems/{problem_id}/workaround", response_model=ProblemOut,
            responses={404: {"description": "No such problem"}},
            dependencies=[require("tickets:write")])
async def record_workaround(problem_id: UUID, body: WorkaroundIn,
                            runtime: RuntimeDep) -> ProblemOut:
    """Record a workaround; it is published for the knowledge base."""
    async with runtime.transaction() as uow:
        session = uow.session
        row = await incidents.record_workaround(runtime, session, problem_id, body.title,
                                                body.workaround, body.by)
        if row is None:
            raise _not_found("problem", problem_id)
        out = (await session.execute(select(problems).where(problems.c.id == problem_id))).first()
    return _problem(out)
