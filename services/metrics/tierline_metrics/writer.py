"""Writing a fold: one statement per table and shape of change, whatever the batch size.

Applying the same event twice changes nothing: accumulated rows are keyed by the event id
(``ON CONFLICT DO NOTHING``), counts are recounted from those rows, a ``first`` column keeps
the first value it was given and a ``max`` column the greatest. Only ``add`` (a ticket's
reopen count) relies on the inbox to see each event once, as it always did.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Table, func, select, text, update
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
    """Insert each row, or change the stored one as its changes say: one statement per
    shape of change (the set of columns and how each changes)."""
    key = next(iter(table.primary_key.columns))
    by_shape: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = defaultdict(list)
    for row_key, row in rows.items():
        by_shape[row.shape()].append(
            {key.name: row_key, **{name: value for name, (_, value) in row.changes.items()}})
    for shape, values in by_shape.items():
        for start in range(0, len(values), _CHUNK):
            statement = pg_insert(table).values(values[start:start + _CHUNK])
            changes = {name: _merge(table, statement, name, op) for name, op in shape}
            await session.execute(
                statement.on_conflict_do_update(index_elements=[key], set_=changes)
                if changes else statement.on_conflict_do_nothing())


def _merge(table: Table, statement: Any, name: str, op: str) -> Any:
    stored, given = table.c[name], statement.excluded[name]
    if op == "set":
        return given
    if op == "first":
        return func.coalesce(stored, given)
    if op == "max":
        return func.greatest(stored, given)
    return stored + given  # add


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
