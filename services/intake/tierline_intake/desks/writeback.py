"""Writing router's final decisions back to the desk: queued in the consumer's transaction
with the event that made the assignment final, sent by a periodic job.

Each tick claims due write-backs of connections whose circuit lets them through (``FOR
UPDATE SKIP LOCKED``, then a lease), at most one per connection that is half-open or was just
paced by a 429 (so a desk's rate limit is not met by every write-back at once, again and
again), and sends each in its own task. A try reads the desk's record first and skips a
step the desk already shows, so a repeat changes nothing in the desk; the steps done are
kept, so a retry goes on where the last try stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from sqlalchemy import exists, literal, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.context import intake_context
from tierline_intake.desks import policy
from tierline_intake.desks.vault import Vault
from tierline_intake.desks.vendors import (
    authorization,
    current_assignee,
    note_text,
    read_step,
    servicenow_table,
    write_steps,
)
from tierline_intake.models import desk_connections, desk_writebacks, external_tickets, tickets
from tierline_shared.bus.events import TicketOfferAnswered
from tierline_shared.bus.handlers import Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

INTERVAL_S = 0.2
MAX_IN_FLIGHT = 50
LEASE = timedelta(seconds=30)


def vault(runtime: Runtime) -> Vault:
    ctx = intake_context(runtime)
    if ctx.desk_vault is None:
        ctx.desk_vault = Vault(runtime.settings.desk_secrets_key.get_secret_value())
    return ctx.desk_vault


async def connection_for(session: AsyncSession, system: str,
                         connection_id: UUID | None) -> Any:
    """The ticket's own connection, else the one active connection of its system."""
    c = desk_connections.c
    if connection_id is not None:
        return (await session.execute(select(desk_connections).where(
            c.id == connection_id, c.active.is_(True)))).first()
    rows = (await session.execute(select(desk_connections).where(
        c.system == system, c.active.is_(True)).limit(2))).all()
    return rows[0] if len(rows) == 1 else None


async def enqueue(runtime: Runtime, session: AsyncSession, event_id: UUID,
                  event: TicketOfferAnswered) -> str | None:
    """Queue the write-back of an accepted assignment of a desk's ticket (once per event).
    An agent without ids for the connection is recorded as ``unmapped``, not sent."""
    if event.outcome != "accepted" or (event.reason or "").startswith("desk:"):
        return None  # not final, or the desk itself made it so: nothing to write back
    ext = (await session.execute(select(
        external_tickets.c.system, external_tickets.c.external_id,
        external_tickets.c.connection_id, tickets.c.ticket_type).join(
        tickets, tickets.c.id == external_tickets.c.ticket_id).where(
        external_tickets.c.ticket_id == event.ticket_id))).first()
    if ext is None:
        return None
    conn = await connection_for(session, ext.system, ext.connection_id)
    if conn is None:
        return None
    ids = event.agent_desk_ids.get(conn.name) or {}
    now = runtime.clock.now()
    target = {"external_id": ext.external_id, "user": ids.get("user"),
              "group": ids.get("group"), "table": servicenow_table(ext.ticket_type),
              "note": note_text(event.agent_id, event.agent_id, event.reasons)}
    status = "pending" if target["user"] else "unmapped"
    inserted = await session.scalar(pg_insert(desk_writebacks).values(
        id=uuid4(), connection_id=conn.id, event_id=event_id, ticket_id=event.ticket_id,
        agent_id=event.agent_id, target=target, status=status, attempts=0,
        next_attempt_at=now, steps_done=[], log=[], created_at=now,
        last_error=None if target["user"] else
        f"agent {event.agent_id} has no ids for connection {conn.name}",
    ).on_conflict_do_nothing().returning(desk_writebacks.c.status))
    return inserted


async def on_offer_answered(runtime: Runtime, uow: UnitOfWork,
                            d: Delivered[TicketOfferAnswered]) -> None:
    event = d.event
    await enqueue(runtime, uow.session, d.envelope.id, event)


async def _claim(runtime: Runtime, limit: int) -> list[dict[str, Any]]:
    now = runtime.clock.now()
    w, c = desk_writebacks.c, desk_connections.c
    older = desk_writebacks.alias("older")
    async with runtime.transaction() as uow:
        session = uow.session
        rows = (await session.execute(
            select(desk_writebacks, c.system, c.base_url, c.auth, c.credentials,
                   c.max_attempts, c.backoff_s, c.timeout_s, c.circuit_failures,
                   c.circuit_open_until)
            .join(desk_connections, c.id == w.connection_id)
            .where(w.status == "pending", w.next_attempt_at <= now,
                   or_(c.circuit_open_until.is_(None), c.circuit_open_until <= now),
                   # one ticket's write-backs reach the desk in order, never side by side
                   ~exists().where(older.c.ticket_id == w.ticket_id,
                                   older.c.connection_id == w.connection_id,
                                   older.c.status == "pending",
                                   older.c.created_at < w.created_at))
            .order_by(w.next_attempt_at).limit(limit)
            .with_for_update(of=desk_writebacks, skip_locked=True))).all()
        claimed, probing = [], set()
        for row in rows:
            if policy.half_open(row.circuit_failures, row.circuit_open_until):
                if row.connection_id in probing:
                    continue
                probing.add(row.connection_id)
            claimed.append(dict(row._mapping))
        if claimed:
            await session.execute(update(desk_writebacks).where(
                w.id.in_([r["id"] for r in claimed])).values(next_attempt_at=now + LEASE))
        if probing:
            # a probe in flight holds the others back until it answers
            await session.execute(update(desk_connections).where(c.id.in_(probing)).values(
                circuit_open_until=now + LEASE))
    return claimed


class _Paced(Exception):
    def __init__(self, wait: timedelta) -> None:
        self.wait = wait


async def _request(client: httpx.AsyncClient, row: dict[str, Any], auth: str, step: Any,
                   now: Any) -> httpx.Response:
    response = await client.request(
        step.method, row["base_url"].rstrip("/") + step.path, json=step.json,
        headers={"Authorization": auth, "Accept": "application/json"},
        timeout=row["timeout_s"])
    if response.status_code == 429:
        raise _Paced(policy.retry_after(response.headers.get("Retry-After"), now))
    response.raise_for_status()
    return response


async def _attempt(runtime: Runtime, client: httpx.AsyncClient, row: dict[str, Any],
                   done: list[str]) -> int:
    """Run the write-back's remaining steps; returns the last status code."""
    system, target = row["system"], row["target"]
    auth = authorization(system, row["auth"], vault(runtime).open(row["credentials"]))
    now = runtime.clock.now()
    read = await _request(client, row, auth, read_step(system, target), now)
    code = read.status_code
    if current_assignee(system, read.json()) == str(target["user"]) and "assign" not in done:
        done.append("assign")
    for step in write_steps(system, target):
        if step.name in done:
            continue
        code = (await _request(client, row, auth, step, now)).status_code
        done.append(step.name)
    return code


async def _send(runtime: Runtime, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
    started, sent_at = time.perf_counter(), runtime.clock.now()
    done: list[str] = list(row["steps_done"])
    before = list(done)
    code: int | None = None
    error: str | None = None
    paced: timedelta | None = None
    try:
        code = await _attempt(runtime, client, row, done)
    except _Paced as exc:
        code, error, paced = 429, f"HTTP 429: retry after {exc.wait.total_seconds():g} s", \
            exc.wait
    except httpx.HTTPStatusError as exc:
        code = exc.response.status_code
        error = f"HTTP {code} on {exc.request.method} {exc.request.url.path}"
    except httpx.TimeoutException:
        error = f"timed out after {row['timeout_s']:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # an answer that is not the documented JSON, or sealed credentials that do not open
        error = f"unexpected: {type(exc).__name__}: {exc}"[:500]
    now = runtime.clock.now()
    attempt = row["attempts"] + (0 if paced is not None else 1)
    status = "pending" if paced is not None else policy.after_attempt(
        attempt, row["max_attempts"], error is None)
    entry = {"attempt": attempt, "at": sent_at.isoformat(), "status_code": code,
             "error": error, "steps": [s for s in done if s not in before],
             "skipped": error is None and done == before,
             "duration_ms": round((time.perf_counter() - started) * 1000, 1)}
    values: dict[str, Any] = {
        "status": status, "attempts": attempt, "last_status_code": code, "last_error": error,
        "steps_done": done, "log": desk_writebacks.c.log.op("||")(literal([entry], JSONB)),
        "next_attempt_at": now + (paced if paced is not None else policy.retry_delay(
            attempt, row["backoff_s"])) if status == "pending" else now}
    if status == "delivered":
        values["delivered_at"] = now
    c = desk_connections.c
    if error is None:
        circuit: dict[str, Any] = {"circuit_failures": 0, "circuit_open_until": None}
    elif paced is not None:
        circuit = {"circuit_open_until": now + paced}
    else:
        failures = row["circuit_failures"] + 1
        wait = policy.cool_down(failures, row["backoff_s"])
        circuit = {"circuit_failures": c.circuit_failures + 1,
                   "circuit_open_until": None if wait is None else now + wait}
    async with runtime.transaction() as uow:
        session = uow.session
        await session.execute(update(desk_writebacks).where(
            desk_writebacks.c.id == row["id"],  # not revived if its connection went
            desk_writebacks.c.status == "pending").values(**values))
        await session.execute(update(desk_connections).where(
            c.id == row["connection_id"]).values(**circuit))
    if status == "dead":
        log.warning("desk write-back dead-lettered", extra={
            "writeback_id": str(row["id"]), "ticket_id": str(row["ticket_id"]),
            "error": error, "attempts": attempt})


async def deliver_due(runtime: Runtime) -> int:
    ctx = intake_context(runtime)
    in_flight = ctx.desk_sends
    room = MAX_IN_FLIGHT - len(in_flight)
    if room <= 0:
        return 0
    rows = await _claim(runtime, room)
    if ctx.desk_client is None:
        ctx.desk_client = httpx.AsyncClient(follow_redirects=False)
    client = ctx.desk_client
    for row in rows:
        task = asyncio.create_task(_send(runtime, client, row), name=f"desk-{row['id']}")
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    return len(rows)


def writeback_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("agent_id", "target", "status", "attempts", "steps_done",
                               "last_status_code", "last_error", "log")}
    for key in ("id", "connection_id", "event_id", "ticket_id"):
        out[key] = str(row[key])
    for key in ("next_attempt_at", "created_at", "delivered_at"):
        out[key] = row[key].isoformat() if row[key] is not None else None
    return out
