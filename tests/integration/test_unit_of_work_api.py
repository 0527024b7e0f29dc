"""An API request's side records (its audit entry, history row and event) are collected by
its unit of work and written together at the commit, in one statement with the new ticket
and its Idempotency-Key; a request that fails after making them leaves none of them
behind. Intake served in process on a real PostgreSQL, with every statement the engine sends
recorded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select, text

from tests.helpers import attach, eventually, offline_runtime
from tierline_intake.app import SPEC, _start, create_app
from tierline_intake.idempotency import request_hash
from tierline_intake.models import audit_log, history, idempotency_keys, outbox, tickets
from tierline_intake.tickets.schemas import TicketIn
from tierline_shared.auth.keys import generate
from tierline_shared.clock import FrozenClock

pytestmark = [pytest.mark.db]

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SIDE_TABLES = {"intake.audit_log": "audit", "intake.ticket_history": "history",
               "intake.outbox": "outbox"}


@pytest.fixture(scope="module")
async def intake(database_url: str) -> AsyncIterator[Any]:
    runtime = offline_runtime(SPEC, database_url, FrozenClock(T0))
    await _start(runtime)
    yield runtime
    await runtime.engine.dispose()


@pytest.fixture
def statements(intake: Any) -> Iterator[list[str]]:
    """What the service's engine sends, in order: each statement's text, and "COMMIT"."""
    sent: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()))

    def on_commit(conn: Any) -> None:
        sent.append("COMMIT")

    engine = intake.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    yield sent
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)


def ticket_body(title: str) -> dict[str, Any]:
    return {"title": title, "description": "The VPN drops every few minutes since Monday",
            "requester": {"id": f"u-{uuid.uuid4().hex[:8]}"}, "channel": "portal"}


def side_writes(sent: list[str]) -> list[str]:
    """The side table each INSERT of ``sent`` into one wrote to, in order."""
    return [name for statement in sent for table, name in SIDE_TABLES.items()
            if f"INSERT INTO {table} " in statement]


async def counts(runtime: Any) -> dict[str, int]:
    async with runtime.sessions() as session:
        return {table.name: int(await session.scalar(select(func.count()).select_from(table))
                                or 0)
                for table in (tickets, history, audit_log, outbox)}


async def test_a_requests_audit_entry_history_row_and_event_are_written_at_its_commit(
        intake: Any, statements: list[str]) -> None:
    key = generate()
    app = create_app(intake.settings)
    attach(app, intake, key=key.plaintext)
    title = f"VPN drops {uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i",
                                 headers={"X-API-Key": key.plaintext}) as client:
        created = await client.post("/v1/tickets", json=ticket_body(title),
                                    headers={"Idempotency-Key": uuid.uuid4().hex})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    # The ticket's row waits for the commit with its three side records and its key: all go
    # in one statement (data-modifying CTEs), the last before the commit.
    write = next(i for i, s in enumerate(statements) if "INSERT INTO intake.tickets " in s)
    assert statements[write + 1] == "COMMIT"
    assert side_writes(statements[:write]) == []
    assert sorted(side_writes(statements[write:write + 1])) == ["audit", "history", "outbox"]
    assert "INSERT INTO intake.idempotency_keys " in statements[write]
    # ... and all three are there, naming the caller.
    async with intake.sessions() as session:
        entries = (await session.execute(select(audit_log).where(
            audit_log.c.entity_id == ticket_id))).all()
        steps = (await session.execute(select(history.c.kind).where(
            history.c.ticket_id == uuid.UUID(ticket_id)))).scalars().all()
        events = (await session.execute(select(outbox.c.headers).where(
            outbox.c.key == ticket_id.encode()))).scalars().all()
    assert [(e.action, e.actor_name, e.actor_key_id) for e in entries] == [
        ("created", "bootstrap", key.key_id)]
    assert steps == ["created"]
    assert [dict(h)["ce_type"] for h in events] == ["tierline.ticket.created.v1"]


async def test_a_request_that_fails_after_its_side_records_leaves_none_of_them(
        intake: Any, statements: list[str]) -> None:
    """The request loses the race for its Idempotency-Key after logging the ticket: a
    concurrent request with the same key commits first. Its one statement (ticket, side
    records and key) fails on the key, its transaction is rolled back and it answers with the
    stored response; its ticket, audit entry, history row and event are not written, not
    even for a moment."""
    key = generate()
    app = create_app(intake.settings)
    attach(app, intake, key=key.plaintext)
    idem, title = uuid.uuid4().hex, f"VPN drops {uuid.uuid4().hex[:8]}"
    body = ticket_body(title)
    stored = {"id": str(uuid.uuid4()), "title": title, "stored": True}
    before = await counts(intake)
    async with intake.engine.connect() as rival:
        # The other request has claimed the key but not committed yet.
        await rival.execute(idempotency_keys.insert().values(
            key=idem, scope="POST /v1/tickets", status_code=201,
            request_hash=request_hash(TicketIn.model_validate(body).model_dump(mode="json")),
            response=stored, created_at=T0))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://i",
                                     headers={"X-API-Key": key.plaintext}) as client:
            request = asyncio.create_task(client.post("/v1/tickets", json=body,
                                                      headers={"Idempotency-Key": idem}))

            async def blocked_on_the_key() -> bool:
                # The statement that writes the ticket writes the key too (pg_stat_activity
                # keeps only its first kilobyte): the only lock it can wait on is the key's.
                async with intake.engine.connect() as conn:
                    waiting = await conn.scalar(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%INSERT INTO intake.tickets %'"))
                return bool(waiting)

            await eventually(blocked_on_the_key, what="the request waiting on the key")
            # By now it has logged the ticket: its row and side records wait, uncommitted, in
            # the statement that waits on the key.
            assert any("INSERT INTO intake.tickets " in s for s in statements)
            assert await counts(intake) == before
            await rival.commit()
            answer = await request
    assert answer.status_code == 201
    assert answer.headers["Idempotent-Replayed"] == "true"
    assert answer.json() == stored
    assert await counts(intake) == before
    async with intake.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(tickets).where(
            tickets.c.title == title)) == 0


async def test_a_one_statement_unit_of_work_refuses_to_write_outside_its_statement(
        database_url: str) -> None:
    """Without BEGIN a write before the unit of work's own statement would commit on its
    own, and a locking read would let go of its lock at once: both are refused, and nothing
    is written, from the first unit of work of a new engine on."""
    from tierline_shared.unit_of_work import OneStatementBroken

    runtime = offline_runtime(SPEC, database_url, FrozenClock(T0))
    try:
        before = await counts(runtime)
        for statement in (history.insert().values(ticket_id=uuid.uuid4(), kind="commented",
                                                  actor="x", at=T0, detail={}),
                          select(tickets.c.id).limit(1).with_for_update()):
            await runtime.engine.dispose()  # each on a new connection
            with pytest.raises(OneStatementBroken):
                async with runtime.transaction(one_statement=True) as uow:
                    await uow.session.execute(select(func.count()).select_from(tickets))
                    await uow.session.execute(statement)
        assert await counts(runtime) == before
    finally:
        await runtime.engine.dispose()
