"""Writing a fold: one statement per table and shape of change, whatever the batch size.

Applying the same event twice changes nothing: accumulated rows are keyed by the event id
(``ON CONFLICT DO NOTHING``), counts are recounted from those rows, a ``first`` column keeps
the first value it was given and a ``max`` column the greatest. Only ``add`` (a ticket's
reopen count) relies on the inbox to see each event once, as it always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import String, Table, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.fold import Fold, Row, fold
from tierline_metrics.models import (
    SCHEMA,
    escalations,
    major_incidents,
    problems,
    sla_events,
    ticket_facts,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.unit_of_work import UnitOfWork

_CHUNK = 1000


async def write(session: AsyncSession, out: Fold) -> None:
    """Write ``out`` in the caller's transaction."""
    previous: set[UUID] = set()
    if out.linked:  # the incidents these tickets leave lose them from their counts
        f = ticket_facts.c
        previous = set((await session.scalars(select(f.major_incident_id).where(
            f.ticket_id.in_(list(out.linked)), f.major_incident_id.is_not(None)))).all())
    await upsert(session, ticket_facts, out.facts)
    await upsert(session, major_incidents, out.major_incidents)
    await upsert(session, problems, out.problems)
    if out.log:
        await session.execute(text(
            f"INSERT INTO {SCHEMA}.ticket_log (event_id, ticket_id, event_type, at, body) "
            "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:tickets AS uuid[]), "
            "CAST(:types AS text[]), CAST(:ats AS timestamptz[]), CAST(:bodies AS jsonb[])) "
            "ON CONFLICT DO NOTHING"), dict(zip(
                ("ids", "tickets", "types", "ats", "bodies"),
                (list(column) for column in zip(*out.log, strict=True)), strict=True)))
    if out.presence:
        await session.execute(text(
            f"INSERT INTO {SCHEMA}.presence_log (agent_id, at, presence) "
            "SELECT * FROM unnest(CAST(:agents AS text[]), CAST(:ats AS timestamptz[]), "
            "CAST(:presences AS text[])) ON CONFLICT DO NOTHING"), dict(zip(
                ("agents", "ats", "presences"),
                (list(column) for column in zip(*out.presence, strict=True)), strict=True)))
    for table, rows in ((sla_events, out.sla_events), (escalations, out.escalations)):
        for start in range(0, len(rows), _CHUNK):
            await session.execute(pg_insert(table).values(rows[start:start + _CHUNK])
                                  .on_conflict_do_nothing())
    if out.escalated:
        await recount_escalations(session, out.escalated)
    if out.incidents_linked:
        await recount_incidents(session, previous | out.incidents_linked)


async def upsert(session: AsyncSession, table: Table, rows: dict[UUID, Row]) -> None:
    """Make sure each row exists (one ``INSERT ... ON CONFLICT DO NOTHING``), then change
    every row as its changes say with one ``UPDATE ... FROM unnest(...)``: per column an
    array of values and an array saying which rows change it. The statements' text depends
    only on the table, so PostgreSQL plans each once per connection."""
    if not rows:
        return
    key = next(iter(table.primary_key.columns))
    ops: dict[str, str] = {}
    for row in rows.values():
        for name, (op, _) in row.changes.items():
            if ops.setdefault(name, op) != op:
                raise ValueError(f"{table.name}.{name} changed both by {ops[name]} and {op}")
    keys = list(rows)
    await session.execute(text(
        f"INSERT INTO {table.schema}.{table.name} ({key.name}) "
        f"SELECT unnest(CAST(:keys AS uuid[])) ON CONFLICT DO NOTHING"), {"keys": keys})
    if not ops:
        return
    names = sorted(ops)
    params: dict[str, Any] = {"keys": keys}
    for n, name in enumerate(names):
        params[f"v{n}"] = [row.changes.get(name, (None, None))[1] for row in rows.values()]
        params[f"h{n}"] = [name in row.changes for row in rows.values()]
    await session.execute(text(_update_sql(table, key.name, tuple(names),
                                           tuple(ops[n] for n in names))), params)


_MERGE = {"set": "u.v{n}", "first": "coalesce(t.{c}, u.v{n})",
          "max": "greatest(t.{c}, u.v{n})", "add": "t.{c} + u.v{n}"}


@lru_cache(maxsize=256)
def _update_sql(table: Table, key: str, names: tuple[str, ...], ops: tuple[str, ...]) -> str:
    arrays = ", ".join(f"CAST(:v{n} AS {_pg_type(table.c[c])}[]), CAST(:h{n} AS boolean[])"
                       for n, c in enumerate(names))
    columns = ", ".join(f"v{n}, h{n}" for n in range(len(names)))
    sets = ", ".join(
        f"{c} = CASE WHEN u.h{n} THEN {_MERGE[op].format(n=n, c=c)} ELSE t.{c} END"
        for n, (c, op) in enumerate(zip(names, ops, strict=True)))
    return (f"UPDATE {table.schema}.{table.name} AS t SET {sets} "
            f"FROM unnest(CAST(:keys AS uuid[]), {arrays}) AS u(k, {columns}) "
            f"WHERE t.{key} = u.k")


def _pg_type(column: Any) -> str:
    # Text, not VARCHAR(n): an explicit cast to VARCHAR(n) truncates silently, while
    # assigning a longer text to the column is refused, as the insert of a row would be.
    if isinstance(column.type, String):
        return "text"
    return column.type.compile(dialect=postgresql.dialect())


async def recount_escalations(session: AsyncSession, ticket_ids: set[UUID]) -> None:
    e = escalations.c
    counts = (select(e.ticket_id, func.count().label("total"),
                     func.count().filter(e.kind == "functional").label("functional"))
              .where(e.ticket_id.in_(list(ticket_ids))).group_by(e.ticket_id).subquery())
    await session.execute(
        update(ticket_facts).where(ticket_facts.c.ticket_id == counts.c.ticket_id)
        .values(escalations=counts.c.total, functional_escalations=counts.c.functional))


async def recount_incidents(session: AsyncSession, incident_ids: set[UUID]) -> None:
    f = ticket_facts.c
    children = (select(func.count()).select_from(ticket_facts)
                .where(f.major_incident_id == major_incidents.c.id).scalar_subquery())
    await session.execute(update(major_incidents)
                          .where(major_incidents.c.id.in_(list(incident_ids)))
                          .values(ticket_count=children))


async def apply_batch(uow: UnitOfWork, events: Sequence[Delivered[Any]]) -> None:
    """Metrics' consumer handler: fold the run in memory, then write it."""
    await write(uow.session, fold(events))
