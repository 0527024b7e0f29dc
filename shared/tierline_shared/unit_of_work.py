"""One unit of work: a transaction that collects what a change writes beside its state (audit
entries, history rows, outbox events) and writes each kind with one statement at commit, then
wakes the outbox relay.

Requests, consumer batches and periodic jobs all change state through
``async with runtime.transaction(actor) as uow``; nobody writes ``begin()`` + audit +
``relay.notify()`` by hand. Code deeper down that only has the session (``enqueue``,
``audit.record``) finds the unit of work on it and adds to its buffers, so a change made
anywhere inside the transaction costs no extra round trip for its side records.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_shared.audit import Actor, bind
from tierline_shared.bus.envelope import Envelope

_KEY = "tierline.unit_of_work"
# Rows per multi-row INSERT: PostgreSQL takes at most 32,767 bind parameters a statement.
_CHUNK = 1000


def outbox_channel(outbox: Table) -> str:
    """The LISTEN/NOTIFY channel a commit with outbox rows notifies, so that the relay of any
    replica wakes at once."""
    return f"tierline_outbox_{outbox.schema}"


def outbox_row(topic: str, envelope: Envelope) -> dict[str, Any]:
    return {"event_id": envelope.id, "topic": topic, "key": envelope.key,
            "headers": [[name, value.decode()] for name, value in envelope.headers()],
            "value": envelope.body()}


class UnitOfWork:
    """What one transaction writes besides its own statements, written once at commit."""

    def __init__(self, session: AsyncSession, *, outbox: Table, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self._outbox = outbox
        self._events: list[dict[str, Any]] = []
        self._rows: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        self._after_commit: list[Callable[[], None]] = []
        self.published = 0
        session.info[_KEY] = self

    @property
    def emitted(self) -> int:
        """Events emitted in this unit of work so far, whether an early flush wrote them."""
        return self.published + len(self._events)

    def emit(self, topic: str, envelope: Envelope) -> None:
        """Publish ``envelope`` on ``topic`` if, and only if, this transaction commits."""
        self._events.append(outbox_row(topic, envelope))

    async def emit_async(self, topic: str, envelope: Envelope) -> None:
        """:meth:`emit` for callers that await an emit function (handler contexts)."""
        self.emit(topic, envelope)

    def add(self, table: Table, row: dict[str, Any]) -> None:
        """Insert ``row`` into ``table`` at commit, with the other rows of that table."""
        self._rows[table].append(row)

    def add_all(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        self._rows[table].extend(rows)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction committed (never on a rollback)."""
        self._after_commit.append(callback)

    async def flush(self) -> None:
        """Write the collected rows, each table in one statement (chunked past 1,000 rows);
        the outbox last, with the NOTIFY that wakes the relays."""
        rows, self._rows = self._rows, defaultdict(list)
        for table, values in rows.items():
            await _insert(self.session, table, values)
        events, self._events = self._events, []
        for start in range(0, len(events), _CHUNK):
            inserted = (insert(self._outbox).values(events[start:start + _CHUNK])
                        .returning(self._outbox.c.id).cte("inserted"))
            await self.session.execute(
                select(func.pg_notify(outbox_channel(self._outbox), ""))
                .select_from(select(inserted.c.id).limit(1).subquery()))
        self.published += len(events)

    def committed(self) -> None:
        for callback in self._after_commit:
            callback()


async def _insert(session: AsyncSession, table: Table, values: list[dict[str, Any]]) -> None:
    # Rows of one table may name different columns; a multi-row VALUES needs the same ones.
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in values:
        by_columns[tuple(row)].append(row)
    for same in by_columns.values():
        for start in range(0, len(same), _CHUNK):
            await session.execute(insert(table).values(same[start:start + _CHUNK]))


def current(session: AsyncSession) -> UnitOfWork | None:
    """The unit of work ``session`` belongs to, if it was opened as one."""
    uow = session.info.get(_KEY)
    return uow if isinstance(uow, UnitOfWork) else None


async def add_row(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Insert ``row`` into ``table`` in ``session``'s transaction: with the unit of work's
    other rows at commit when it has one, else at once. For side records nobody reads back
    before the commit (history); a reader that must see them calls ``uow.flush()`` first."""
    uow = current(session)
    if uow is not None:
        uow.add(table, row)
    else:
        await session.execute(insert(table).values(row))


@contextlib.asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession], *, outbox: Table,
                      actor: Actor, wake: Callable[[], None] | None = None,
                      ) -> AsyncIterator[UnitOfWork]:
    """Open a session and a transaction as a unit of work; at the end write what it
    collected, commit, then wake the relay (``wake``) if it published anything. An exception
    rolls everything back and runs no after-commit callback."""
    async with sessions() as session:
        async with session.begin():
            uow = UnitOfWork(session, outbox=outbox, actor=actor)
            bind(session, actor)
            yield uow
            await uow.flush()
        if uow.published and wake is not None:
            wake()
        uow.committed()
