"""Agents' ids in the desks: a CSV import beside the roster's JSON one, and the agents a
connection cannot write back for (no ids there)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select, update

from tierline_router.agents.audit import audit_agent
from tierline_router.agents.schemas import ConnectionName, DeskIds
from tierline_router.models import agents
from tierline_shared.auth.deps import require
from tierline_shared.pagination import Limit, Offset, fetch_page, page
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1/desk-ids", tags=["agents"])

COLUMNS = ("agent_id", "connection", "user", "group")
_name = TypeAdapter(ConnectionName)


def parse_csv(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Rows of ``agent_id,connection,user,group`` (a header line first); errors name the
    line and the column."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or set(COLUMNS[:3]) - set(reader.fieldnames):
        raise ValueError(f"line 1: the header must name {', '.join(COLUMNS)} (group optional)")
    rows = []
    for reader_line, record in enumerate(reader, start=2):
        try:
            name = _name.validate_python((record.get("connection") or "").strip())
        except ValidationError:
            raise ValueError(f"line {reader_line}, connection: not a connection name "
                             "(lower-case letters, digits, _ . -)") from None
        try:
            ids = DeskIds.model_validate({"user": record.get("user") or "",
                                          "group": (record.get("group") or "").strip() or None})
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0])
            raise ValueError(f"line {reader_line}, {field}: {exc.errors()[0]['msg']}") from None
        rows.append(((record.get("agent_id") or "").strip(), name, ids.model_dump()))
    if not rows:
        raise ValueError("no rows after the header")
    return rows


@router.post("/import", response_model=dict[str, Any], dependencies=[require("agents:admin")],
             openapi_extra={"requestBody": {"content": {"text/csv": {"example": (
                 "agent_id,connection,user,group\n"
                 "ana,acme-snow,5137153cc611227c000bbd1bd8cd2005,"
                 "287ebd7da9fe198100f92cc8d1d2154e\n")}}}})
async def import_csv(request: Request, runtime: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """Set agents' ids per connection from CSV (``agent_id,connection,user,group``), all or
    none: an unknown agent or a bad value answers 422 naming the line."""
    try:
        rows = parse_csv((await request.body()).decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, error_body("invalid_csv", str(exc))) from None
    async with runtime.transaction(actor) as uow:
        session = uow.session
        for line, (agent_id, name, ids) in enumerate(rows, start=2):
            before = await session.scalar(select(agents.c.desk_ids).where(
                agents.c.id == agent_id).with_for_update())
            if before is None:
                raise HTTPException(422, error_body(
                    "invalid_csv", f"line {line}, agent_id: no agent {agent_id!r}"))
            after = {**before, name: ids}
            await session.execute(update(agents).where(agents.c.id == agent_id).values(
                desk_ids=after, updated_at=runtime.clock.now()))
            await audit_agent(runtime, session, agent_id, "updated", {"desk_ids": before},
                              {"desk_ids": after})
    return {"imported": len(rows), "agents": sorted({r[0] for r in rows})}


@router.get("/{connection}/unmapped", response_model=dict[str, Any],
            dependencies=[require("agents:read")])
async def unmapped(connection: str, session: SessionDep, limit: Limit = 100,
                   offset: Offset = 0) -> dict[str, Any]:
    """Agents with no ids for this connection: their assignments to its tickets cannot be
    written back (they are logged as ``unmapped``)."""
    query = select(agents.c.id, agents.c.name, agents.c.team).where(
        func.jsonb_exists(agents.c.desk_ids, connection).is_(False)).order_by(agents.c.id)
    rows, total = await fetch_page(session, query, limit, offset)
    return {**page([{"id": r.id, "name": r.name, "team": r.team} for r in rows], total,
                   limit, offset), "connection": connection}
