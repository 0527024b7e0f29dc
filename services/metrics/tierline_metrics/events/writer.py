"""Writing a fold: a few statements per table, whatever the batch size.

Applying the same event twice changes nothing: accumulated rows are keyed by the event id
(``ON CONFLICT DO NOTHING``), counts are recounted from those rows, a ``first`` column keeps
the first value it was given and a ``max`` column the greatest. Only ``add`` (a ticket's
reopen count) relies on the inbox to see each event once, as it always did.

The counter totals Prometheus reads move by what the batch changed
(:mod:`tierline_metrics.events.counters`): the counted columns of the rows the batch touches are
read first, locked, and the difference of what they count for after and before is added
with one statement; new SLA events and escalations count as the insert returns them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import String, Table, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.events import counters
from tierline_metrics.events.fold import Fold, Row, fold
from tierline_metrics.models import (
    SCHEMA,
    counter_totals,
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
    totals: counters.Totals = Counter()
    for table, rows, columns, count in (
            (ticket_facts, out.facts, counters.TICKET_COLUMNS, counters.ticket),
            (major_incidents, out.major_incidents, counters.INCIDENT_COLUMNS, counters.incident),
            (problems, out.problems, (), counters.problem)):
        if not rows:
            continue
        new = await insert_missing(session, table, rows)
        # A ticket changing no counted column counts as it did; an incident or a problem
        # counts once it exists, so every one the batch touches is looked at.
        counted = {key: row for key, row in rows.items()
                   if table is not ticket_facts or not row.changes.keys().isdisjoint(columns)}
        before = await _counted(session, table, columns, [k for k in counted if k not in new])
        for key, row in counted.items():
            old = None if key in new else before[key]
            totals.update(counters.change(count(old), count(
                counters.merged(old, row.changes, columns))))
        await update_rows(session, table, rows)
    if out.log:
        await session.execute(text(
            f"INSERT INTO {SCHEMA}.ticket_log (event_id, ticket_id, event_type, at, body) "
            "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:tickets AS uuid[]), "
            "CAST(:types AS text[]), CAST(:ats AS timestamptz[]), CAST(:bodies AS json[])) "
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
    for table, rows, key_of in ((sla_events, out.sla_events, counters.sla_event),
                                (escalations, out.escalations, counters.escalation)):
        for start in range(0, len(rows), _CHUNK):
            inserted = await session.execute(
                pg_insert(table).values(rows[start:start + _CHUNK]).on_conflict_do_nothing()
                .returning(*(table.c[n] for n in ("kind", "clock", "priority", "trigger")
                             if n in table.c)))
            totals.update(key_of(row) for row in inserted.mappings())
    if out.escalated:
        await recount_escalations(session, out.escalated)
    if out.incidents_linked:
        await recount_incidents(session, previous | out.incidents_linked)
    await add_totals(session, totals)


async def _counted(session: AsyncSession, table: Table, columns: Sequence[str],
                   keys: list[UUID]) -> dict[UUID, dict[str, Any]]:
    """The counted ``columns`` of the rows with ``keys``, locked until the transaction ends
    (in key order), so no other writer moves them in between. Read after the missing rows
    were inserted: a writer inserting the same row waits for this one and then reads what
    it wrote, so two batches never both count a row from the same state."""
    if not keys:
        return {}
    key = next(iter(table.primary_key.columns))
    found = await session.execute(text(
        f"SELECT {', '.join([key.name, *columns])} FROM {table.schema}.{table.name} "
        f"WHERE {key.name} = ANY(CAST(:keys AS uuid[])) ORDER BY {key.name} FOR UPDATE"),
        {"keys": sorted(keys)})
    return {r[0]: dict(zip(columns, r[1:], strict=True)) for r in found.all()}


async def add_totals(session: AsyncSession, totals: counters.Totals) -> None:
    """Move the counter totals by ``totals`` with one statement (a total missing starts at
    0), in key order."""
    if not totals:
        return
    keys = sorted(totals)
    await session.execute(text(
        f"INSERT INTO {SCHEMA}.{counter_totals.name} (name, a, b, value) "
        "SELECT * FROM unnest(CAST(:names AS text[]), CAST(:a AS text[]), CAST(:b AS text[]), "
        "CAST(:values AS bigint[])) ON CONFLICT (name, a, b) "
        f"DO UPDATE SET value = {counter_totals.name}.value + excluded.value"),
        {"names": [k[0] for k in keys], "a": [k[1] for k in keys], "b": [k[2] for k in keys],
         "values": [totals[k] for k in keys]})


async def insert_missing(session: AsyncSession, table: Table, rows: dict[UUID, Row]
                         ) -> set[UUID]:
    """Make sure each row exists (one ``INSERT ... ON CONFLICT DO NOTHING``); the keys of
    those it inserted."""
    key = next(iter(table.primary_key.columns))
    inserted = await session.scalars(text(
        f"INSERT INTO {table.schema}.{table.name} ({key.name}) "
        f"SELECT unnest(CAST(:keys AS uuid[])) ON CONFLICT DO NOTHING RETURNING {key.name}"),
        {"keys": list(rows)})
    return set(inserted.all())


async def update_rows(session: AsyncSession, table: Table, rows: dict[UUID, Row]) -> None:
    """Change every row (they exist) as its changes say with one ``UPDATE ... FROM
    unnest(...)``: per column an array of values and an array saying which rows change it.
    The statement's text depends only on the table and the columns changed, so PostgreSQL
    plans each once per connection."""
    key = next(iter(table.primary_key.columns))
    ops: dict[str, str] = {}
    for row in rows.values():
        for name, (op, _) in row.changes.items():
            if ops.setdefault(name, op) != op:
                raise ValueError(f"{table.name}.{name} changed both by {ops[name]} and {op}")
    if not ops:
        return
    keys = list(rows)
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
