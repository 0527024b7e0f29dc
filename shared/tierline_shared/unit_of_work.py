"""One unit of work: a transaction that collects what a change writes beside its state (audit
entries, history rows, outbox events, and rows a use case defers such as a new ticket) and
writes them all with one statement at commit (data-modifying CTEs), then wakes the outbox
relay.

Requests, consumer batches and periodic jobs all change state through
``async with runtime.transaction(actor) as uow``; nobody writes ``begin()`` + audit +
``relay.notify()`` by hand. Code deeper down that only has the session (``enqueue``,
``audit.record``) finds the unit of work on it and adds to its buffers, so a change made
anywhere inside the transaction costs no extra round trip for its side records.
"""

from __future__ import annotations

import contextlib
import functools
import re
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Table, TextClause, bindparam, event, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_shared.audit import Actor, bind
from tierline_shared.bus.envelope import Envelope

_KEY = "tierline.unit_of_work"
# Rows per multi-row INSERT, and bind parameters per statement: PostgreSQL takes at most
# 32,767 bind parameters a statement.
_CHUNK = 1000
_MAX_PARAMS = 30_000
_OUTBOX_COLUMNS = ("event_id", "topic", "key", "headers", "value")
_QUOTE = postgresql.dialect().identifier_preparer
# One group of rows: the table, the columns every row names, how many rows.
Shape = tuple[Table, tuple[str, ...], int]


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

    def __init__(self, session: AsyncSession, *, outbox: Table, actor: Actor,
                 one_statement: bool = False) -> None:
        self.session = session
        self.actor = actor
        self.one_statement = one_statement
        self.writing = False
        self.writes = 0
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

    def pending(self, table: Table) -> bool:
        """Whether rows for ``table`` wait for the commit (a reader of that table flushes)."""
        return bool(self._rows.get(table))

    async def flush(self) -> None:
        """Write the collected rows in one statement (data-modifying CTEs, each table's rows
        in one multi-row VALUES, chunked past 1,000 rows or 30,000 parameters), the outbox
        rows with the NOTIFY that wakes the relays. One statement is one round trip, and
        PostgreSQL checks constraints at its end, so a deferred parent row (a ticket) and its
        side records may share it."""
        rows, self._rows = self._rows, defaultdict(list)
        events, self._events = self._events, []
        groups: list[tuple[Table, tuple[str, ...], list[dict[str, Any]]]] = []
        for table, values in rows.items():
            # Rows of one table may name different columns; a multi-row VALUES needs the same.
            by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for row in values:
                by_columns[tuple(row)].append(row)
            for columns, same in by_columns.items():
                groups.extend((table, columns, same[start:start + _CHUNK])
                              for start in range(0, len(same), _CHUNK))
        groups.extend((self._outbox, _OUTBOX_COLUMNS, events[start:start + _CHUNK])
                      for start in range(0, len(events), _CHUNK))
        batch: list[tuple[Table, tuple[str, ...], list[dict[str, Any]]]] = []
        params = 0
        for group in groups:
            size = len(group[1]) * len(group[2])
            if batch and params + size > _MAX_PARAMS:
                await self._write(batch)
                batch, params = [], 0
            batch.append(group)
            params += size
        if batch:
            await self._write(batch)
        self.published += len(events)

    async def _write(self, groups: list[tuple[Table, tuple[str, ...],
                                              list[dict[str, Any]]]]) -> None:
        if self.one_statement and self.writes:
            raise OneStatementBroken("a one-statement unit of work wrote a second statement")
        shape = tuple((table, columns, len(rows)) for table, columns, rows in groups)
        values = {f"p{g}_{r}_{c}": row[column]
                  for g, (_, columns, rows) in enumerate(groups)
                  for r, row in enumerate(rows) for c, column in enumerate(columns)}
        self.writing = True
        try:
            await self.session.execute(_statement(shape, self._outbox), values)
        finally:
            self.writing = False
        self.writes += 1

    def committed(self) -> None:
        for callback in self._after_commit:
            callback()


@functools.lru_cache(maxsize=256)
def _statement(shape: tuple[Shape, ...], outbox: Table) -> TextClause:
    """The one statement that writes groups of rows of this shape: every group an INSERT in a
    CTE, the outbox's returning a row each so the final SELECT can notify once when there is
    one (unreferenced data-modifying CTEs run all the same). Cached by shape: building and
    compiling it is most of the CPU a small transaction spends on its side records."""
    parts, binds, notify = [], [], None
    for g, (table, columns, count) in enumerate(shape):
        names = ", ".join(_QUOTE.quote(column) for column in columns)
        rows = ", ".join("(" + ", ".join(f":p{g}_{r}_{c}" for c in range(len(columns))) + ")"
                         for r in range(count))
        returning = ""
        if table is outbox:
            returning = " RETURNING 1 AS one"
            notify = notify or f"w{g}"
        parts.append(f"w{g} AS (INSERT INTO {_QUOTE.format_table(table)} ({names}) "
                     f"VALUES {rows}{returning})")
        binds.extend(bindparam(f"p{g}_{r}_{c}", type_=table.c[column].type)
                     for r in range(count) for c, column in enumerate(columns))
    final = (f"SELECT pg_notify('{outbox_channel(outbox)}', '') FROM "
             f"(SELECT 1 FROM {notify} LIMIT 1) AS woken" if notify else "SELECT 1")
    return text(f"WITH {', '.join(parts)} {final}").bindparams(*binds)


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


class OneStatementBroken(RuntimeError):
    """A one-statement unit of work was asked to write outside its one statement."""


_ONE = "tierline.one_statement"
# Engines whose connections carry the guard below (``event.listen`` is never undone here).
_GUARDED: weakref.WeakSet[Any] = weakref.WeakSet()
_LOCKING = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b|pg_advisory",
                      re.IGNORECASE)


def _reads_only(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
    """On a connection lent to a one-statement unit of work, refuse anything but plain
    reads before its write: without a transaction a write would commit on its own, and a
    lock would be released at once."""
    uow = conn.info.get(_ONE)
    if uow is None or uow.writing:
        return
    if not _plain_read(statement):
        raise OneStatementBroken(f"a one-statement unit of work may only read before its "
                                 f"write, not send {statement[:80]!r}")


@functools.lru_cache(maxsize=512)
def _plain_read(statement: str) -> bool:
    """A SELECT that takes no lock (cached: the same few statements come back)."""
    return statement.lstrip()[:6].upper() == "SELECT" and not _LOCKING.search(statement)


@contextlib.asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession], *, outbox: Table,
                      actor: Actor, wake: Callable[[], None] | None = None,
                      one_statement: bool = False) -> AsyncIterator[UnitOfWork]:
    """Open a session and a transaction as a unit of work; at the end write what it
    collected, commit, then wake the relay (``wake``) if it published anything. An exception
    rolls everything back and runs no after-commit callback.

    ``one_statement`` is for a change that only reads before its unit of work writes, in
    one statement (logging a ticket): PostgreSQL makes one statement atomic on its own, so
    the connection runs in autocommit and BEGIN and COMMIT, two round trips, are never sent.
    Any other write, a second statement or a locking read on that connection raises
    ``OneStatementBroken`` instead of committing on its own."""
    async with sessions() as session:
        async with session.begin():
            uow = UnitOfWork(session, outbox=outbox, actor=actor, one_statement=one_statement)
            bind(session, actor)
            if not one_statement:
                yield uow
                await uow.flush()
            else:
                # The guard first: a connection made before an engine had listeners would
                # not call them. Checked once per engine: event.contains resolves the
                # engine's dispatch every time, a good part of a transaction's set-up.
                engine = session.get_bind()
                if engine not in _GUARDED:
                    if not event.contains(engine, "before_cursor_execute", _reads_only):
                        event.listen(engine, "before_cursor_execute", _reads_only)
                    _GUARDED.add(engine)
                conn = await session.connection(
                    execution_options={"isolation_level": "AUTOCOMMIT"})
                info = conn.sync_connection.info if conn.sync_connection else {}
                info[_ONE] = uow
                try:
                    yield uow
                    await uow.flush()
                finally:
                    info.pop(_ONE, None)
        if uow.published and wake is not None:
            wake()
        uow.committed()
