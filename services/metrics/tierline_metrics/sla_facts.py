"""Folding sla's events: warnings and breaches, escalations, major incidents, problems.

Applying an event twice changes nothing: facts are keyed by the event id, counts are
recounted from those facts, and a milestone keeps the first time it was reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.models import escalations, major_incidents, problems, sla_events, ticket_facts
from tierline_shared.bus.events import (
    MajorIncidentChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    MajorIncidentUpdateDue,
    ProblemIdentified,
    ProblemWorkaroundRecorded,
    SlaBreached,
    SlaWarning,
    TicketEscalated,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.unit_of_work import UnitOfWork

# The change that marks each milestone of a major incident.
MILESTONES = {"restored": "restored_at", "resolved": "resolved_at", "closed": "closed_at"}


async def _upsert(session: AsyncSession, table: Table, key: UUID, values: dict[str, Any],
                  updates: dict[str, Any] | None = None) -> None:
    """Insert the row ``key`` with ``values``, or set ``updates`` (default ``values``)."""
    key_column = next(iter(table.primary_key.columns))
    statement = pg_insert(table).values({key_column.name: key, **values})
    updates = values if updates is None else updates
    await session.execute(
        statement.on_conflict_do_update(index_elements=[key_column], set_=updates)
        if updates else statement.on_conflict_do_nothing())


async def _upsert_tickets(session: AsyncSession, ticket_ids: Iterable[UUID],
                          values: dict[str, Any]) -> None:
    rows = [{"ticket_id": t, **values} for t in dict.fromkeys(ticket_ids)]
    if rows:
        await session.execute(pg_insert(ticket_facts).values(rows).on_conflict_do_update(
            index_elements=[ticket_facts.c.ticket_id], set_=values))


async def on_sla_warning(uow: UnitOfWork, d: Delivered[SlaWarning]) -> None:
    e = d.event
    await uow.session.execute(pg_insert(sla_events).values(
        event_id=d.envelope.id, ticket_id=e.ticket_id, kind="warning", clock=e.clock,
        priority=e.priority, threshold_percent=e.threshold_percent, at=e.at,
    ).on_conflict_do_nothing())


async def on_sla_breached(uow: UnitOfWork, d: Delivered[SlaBreached]) -> None:
    e = d.event
    await uow.session.execute(pg_insert(sla_events).values(
        event_id=d.envelope.id, ticket_id=e.ticket_id, kind="breach", clock=e.clock,
        priority=e.priority, at=e.at,
    ).on_conflict_do_nothing())
    await _upsert_tickets(uow.session, [e.ticket_id], {f"{e.clock}_breached": True})


async def on_ticket_escalated(uow: UnitOfWork, d: Delivered[TicketEscalated]) -> None:
    e = d.event
    await uow.session.execute(pg_insert(escalations).values(
        event_id=d.envelope.id, ticket_id=e.ticket_id, kind=e.kind, trigger=e.trigger,
        level=e.level, rule=e.rule, reason=e.reason, clock=e.clock, to_tier=e.to_tier,
        at=e.escalated_at,
    ).on_conflict_do_nothing())
    esc = escalations.c
    total, functional = (await uow.session.execute(
        select(func.count(), func.count().filter(esc.kind == "functional"))
        .where(esc.ticket_id == e.ticket_id))).one()
    await _upsert_tickets(uow.session, [e.ticket_id],
                          {"escalations": total, "functional_escalations": functional})


async def _link(session: AsyncSession, mi_id: UUID, ticket_ids: list[UUID]) -> None:
    """Make ``mi_id`` the tickets' major incident and recount it and any it took them from."""
    if not ticket_ids:
        return
    f = ticket_facts.c
    previous = set((await session.scalars(select(f.major_incident_id).where(
        f.ticket_id.in_(ticket_ids), f.major_incident_id.is_not(None)))).all())
    await _upsert_tickets(session, ticket_ids, {"major_incident_id": mi_id})
    children = (select(func.count()).select_from(ticket_facts)
                .where(f.major_incident_id == major_incidents.c.id).scalar_subquery())
    await session.execute(update(major_incidents)
                          .where(major_incidents.c.id.in_(previous | {mi_id}))
                          .values(ticket_count=children))


async def on_major_incident_declared(uow: UnitOfWork, d: Delivered[MajorIncidentDeclared]) -> None:
    e = d.event
    await _upsert(uow.session, major_incidents, e.major_incident_id, {
        "title": e.title, "service": e.service, "trigger": e.trigger,
        "declared_at": e.declared_at})
    await _link(uow.session, e.major_incident_id, e.ticket_ids)


async def on_major_incident_ticket_linked(uow: UnitOfWork,
                                          d: Delivered[MajorIncidentTicketLinked]) -> None:
    e = d.event
    await _upsert(uow.session, major_incidents, e.major_incident_id, {}, {})
    await _link(uow.session, e.major_incident_id, [e.ticket_id])


async def on_major_incident_changed(uow: UnitOfWork, d: Delivered[MajorIncidentChanged]) -> None:
    e = d.event
    milestone = MILESTONES.get(e.change)
    if milestone is None:  # an update posted, a manager assigned: no milestone
        await _upsert(uow.session, major_incidents, e.major_incident_id, {}, {})
        return
    column = major_incidents.c[milestone]
    await _upsert(uow.session, major_incidents, e.major_incident_id,
                  {milestone: e.changed_at}, {milestone: func.coalesce(column, e.changed_at)})


async def on_major_incident_update_due(uow: UnitOfWork,
                                       d: Delivered[MajorIncidentUpdateDue]) -> None:
    e = d.event
    await _upsert(uow.session, major_incidents, e.major_incident_id,
                  {"updates_due": e.sequence},
                  {"updates_due": func.greatest(major_incidents.c.updates_due, e.sequence)})


async def on_problem_identified(uow: UnitOfWork, d: Delivered[ProblemIdentified]) -> None:
    e = d.event
    await _upsert(uow.session, problems, e.problem_id, {
        "reason": e.reason, "service": e.service, "category": e.category,
        "ticket_count": len(set(e.ticket_ids)), "identified_at": e.identified_at})


async def on_problem_workaround_recorded(uow: UnitOfWork,
                                         d: Delivered[ProblemWorkaroundRecorded]) -> None:
    e = d.event
    await _upsert(uow.session, problems, e.problem_id, {"workaround_at": e.recorded_at},
                  {"workaround_at": func.coalesce(problems.c.workaround_at, e.recorded_at)})
