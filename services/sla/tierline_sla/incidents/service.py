"""Major incidents and problems in PostgreSQL around the pure rules of ``major`` and
``problems``: detection on every logged incident, one open major incident per outage
however many replicas see the burst, stakeholder-update reminders on a cadence, and
problem candidates from recurring incidents."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, literal, or_, select, text, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.events import (
    MajorIncidentChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    MajorIncidentUpdateDue,
    ProblemIdentified,
    ProblemWorkaroundRecorded,
    TicketCreated,
)
from tierline_shared.runtime import Runtime
from tierline_sla.context import sla_context
from tierline_sla.incidents import major, problems
from tierline_sla.incidents.major import ActionItem, MajorIncident, TicketFacts
from tierline_sla.models import major_incidents, tickets
from tierline_sla.models import problems as problems_table

log = logging.getLogger(__name__)
OPEN_KEY = text("status = 'declared' AND key IS NOT NULL")


def _policy(runtime: Runtime) -> Any:
    return sla_context(runtime).escalation_policy


def facts_of(row: Any) -> TicketFacts:
    return TicketFacts(
        ticket_id=row.ticket_id, ticket_type=row.ticket_type, priority=row.priority,
        created_at=row.created_at, title=row.title, category=row.category, service=row.service,
        configuration_item=row.configuration_item, business_critical=row.business_critical,
        affected_scope=row.affected_scope, workaround_available=row.workaround_available,
        compliance_exposure=row.compliance_exposure)


async def _emit(runtime: Runtime, session: AsyncSession, event: Any) -> None:
    await runtime.emit(session, runtime.topics.sla, runtime.envelope(event))


def _window(since: datetime, until: datetime, limit: int = 2000) -> Any:
    """The latest ``limit`` incidents logged from ``since`` to ``until``."""
    return (select(tickets).where(tickets.c.ticket_type == "incident",
                                  tickets.c.created_at >= since, tickets.c.created_at <= until)
            .order_by(tickets.c.created_at.desc()).limit(limit))


async def _recent(session: AsyncSession, since: datetime, until: datetime,
                  *conditions: Any, limit: int = 2000) -> list[TicketFacts]:
    rows = (await session.execute(_window(since, until, limit).where(*conditions))).all()
    return [facts_of(row) for row in rows]


async def on_ticket_logged(runtime: Runtime, session: AsyncSession, event: TicketCreated) -> None:
    """Link the incident to an open major incident on its outage, or declare one if the
    rules say so; then look for a recurring problem."""
    if event.ticket_type != "incident":
        return
    row = (await session.execute(select(tickets)
                                 .where(tickets.c.ticket_id == event.ticket_id))).first()
    assert row is not None
    ticket = facts_of(row)
    policy = _policy(runtime)
    key = major.outage_key(event.service, event.configuration_item)
    open_id = None
    if key is not None:
        open_id = await session.scalar(select(major_incidents.c.id).where(
            major_incidents.c.key == key, major_incidents.c.status == "declared"))
    if open_id is not None:
        await link(runtime, session, open_id, [event.ticket_id])
    else:
        mi = policy.major_incidents
        same = []
        if event.configuration_item:
            same.append(func.lower(tickets.c.configuration_item)
                        == event.configuration_item.strip().lower())
        if event.service:
            same.append(func.lower(tickets.c.service) == event.service.strip().lower())
        recent = []
        if same:  # either side: tickets of a burst are not always logged in creation order
            window = timedelta(minutes=mi.burst_window_minutes)
            recent = await _recent(session, event.created_at - window,
                                   event.created_at + window, or_(*same))
        detection = major.detect(ticket, recent, mi)
        if detection is not None:
            await declare(runtime, session, key=key or detection.key, title=event.title,
                          service=event.service, trigger="rule", rule=detection.rule,
                          reason=detection.reason, declared_by="tierline-sla",
                          incident_manager=None, ticket_ids=list(detection.ticket_ids))
    await _problem(runtime, session, ticket)


async def on_clock_threshold(runtime: Runtime, session: AsyncSession, row: Any, timer: Any,
                             now: datetime) -> None:
    """A P1 about to breach is a major incident."""
    if row.ticket_type != "incident" or row.major_incident_id is not None:
        return
    reason = major.breach_imminent(timer.priority, timer.clock,
                                   timer.target_seconds * timer.threshold / 100,
                                   timer.target_seconds, _policy(runtime).major_incidents)
    if reason is None:
        return
    key = major.outage_key(row.service, row.configuration_item) or f"ticket:{row.ticket_id}"
    await declare(runtime, session, key=key,
                  title=row.title, service=row.service, trigger="rule", rule="breach_imminent",
                  reason=reason, declared_by="tierline-sla", incident_manager=None,
                  ticket_ids=[row.ticket_id])


class Conflict(Exception):
    def __init__(self, message: str, existing: UUID | None = None) -> None:
        super().__init__(message)
        self.existing = existing


async def declare(runtime: Runtime, session: AsyncSession, *, key: str | None, title: str,
                  service: str | None, trigger: str, rule: str | None, reason: str,
                  declared_by: str, incident_manager: str | None,
                  ticket_ids: list[UUID]) -> tuple[UUID, bool]:
    """Declare a major incident; if one is already open for the outage, link the tickets
    to it instead. Returns its id and whether it is new."""
    now = runtime.clock.now()
    cadence = timedelta(minutes=_policy(runtime).major_incidents.update_cadence_minutes)
    mi_id = uuid4()
    inserted = await session.scalar(pg_insert(major_incidents).values(
        id=mi_id, key=key, title=title, service=service, status="declared", trigger=trigger,
        rule=rule, reason=reason, declared_by=declared_by, incident_manager=incident_manager,
        declared_at=now, last_update_at=now, next_update_at=now + cadence,
        log=[{"at": now.isoformat(), "by": declared_by, "change": "declared",
              "note": reason}],
    ).on_conflict_do_nothing(index_elements=["key"], index_where=OPEN_KEY)
        .returning(major_incidents.c.id))
    if inserted is None:
        existing = await session.scalar(select(major_incidents.c.id).where(
            major_incidents.c.key == key, major_incidents.c.status == "declared"))
        assert existing is not None
        await link(runtime, session, existing, ticket_ids)
        return existing, False
    linked = await _set_parent(session, mi_id, ticket_ids)
    await _emit(runtime, session, MajorIncidentDeclared(
        major_incident_id=mi_id, title=title, service=service, trigger=trigger,  # type: ignore[arg-type]
        rule=rule, reason=reason, declared_by=declared_by, incident_manager=incident_manager,
        ticket_ids=linked, declared_at=now))
    log.warning("major incident declared", extra={"major_incident_id": str(mi_id),
                                                  "reason": reason, "tickets": len(linked)})
    return mi_id, True


async def _set_parent(session: AsyncSession, mi_id: UUID, ticket_ids: list[UUID]) -> list[UUID]:
    if not ticket_ids:
        return []
    return list((await session.scalars(
        update(tickets).where(tickets.c.ticket_id.in_(ticket_ids),
                              tickets.c.major_incident_id.is_distinct_from(mi_id))
        .values(major_incident_id=mi_id).returning(tickets.c.ticket_id))).all())


async def link(runtime: Runtime, session: AsyncSession, mi_id: UUID,
               ticket_ids: list[UUID]) -> list[UUID]:
    linked = await _set_parent(session, mi_id, ticket_ids)
    now = runtime.clock.now()
    for ticket_id in linked:
        await _emit(runtime, session, MajorIncidentTicketLinked(
            major_incident_id=mi_id, ticket_id=ticket_id, linked_at=now))
    return linked


async def remind_updates(runtime: Runtime, session: AsyncSession, now: datetime,
                         limit: int) -> int:
    """Stakeholder-update reminders for major incidents not yet restored, once each."""
    due = (await session.execute(
        select(major_incidents).where(major_incidents.c.status == "declared",
                                      major_incidents.c.next_update_at <= now)
        .order_by(major_incidents.c.next_update_at).limit(limit)
        .with_for_update(skip_locked=True))).all()
    cadence = timedelta(minutes=_policy(runtime).major_incidents.update_cadence_minutes)
    for row in due:
        await _emit(runtime, session, MajorIncidentUpdateDue(
            major_incident_id=row.id, incident_manager=row.incident_manager,
            sequence=row.updates_due + 1, last_update_at=row.last_update_at,
            due_at=row.next_update_at))
        following = row.next_update_at + cadence
        await session.execute(update(major_incidents).where(major_incidents.c.id == row.id)
                              .values(updates_due=row.updates_due + 1,
                                      next_update_at=max(following, now + cadence / 2)))
    return len(due)


# --- the record as the pure state machine sees it --------------------------------------

def to_domain(row: Any) -> MajorIncident:
    return MajorIncident(
        id=row.id, title=row.title, status=row.status, declared_at=row.declared_at,
        incident_manager=row.incident_manager, restored_at=row.restored_at,
        resolved_at=row.resolved_at, closed_at=row.closed_at,
        last_update_at=row.last_update_at, root_cause=row.root_cause,
        action_items=tuple(ActionItem(id=i["id"], title=i["title"], owner=i["owner"],
                                      due=date.fromisoformat(i["due"]), done=i["done"])
                           for i in row.action_items))


def from_domain(mi: MajorIncident, policy: Any) -> dict[str, Any]:
    nxt = major.next_update_due(mi, policy)
    return {"status": mi.status, "incident_manager": mi.incident_manager,
            "restored_at": mi.restored_at, "resolved_at": mi.resolved_at,
            "closed_at": mi.closed_at, "last_update_at": mi.last_update_at,
            "root_cause": mi.root_cause, "next_update_at": nxt,
            "action_items": [{"id": i.id, "title": i.title, "owner": i.owner,
                              "due": i.due.isoformat(), "done": i.done}
                             for i in mi.action_items]}


async def load(session: AsyncSession, mi_id: UUID, for_update: bool = False) -> Any:
    query = select(major_incidents).where(major_incidents.c.id == mi_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def children(session: AsyncSession, mi_id: UUID) -> list[UUID]:
    return list((await session.scalars(select(tickets.c.ticket_id).where(
        tickets.c.major_incident_id == mi_id).order_by(tickets.c.created_at))).all())


async def save(runtime: Runtime, session: AsyncSession, row: Any, mi: MajorIncident,
               change: str, by: str, note: str | None) -> None:
    now = runtime.clock.now()
    entry = {"at": now.isoformat(), "by": by, "change": change, "note": note}
    await session.execute(update(major_incidents).where(major_incidents.c.id == row.id).values(
        **from_domain(mi, _policy(runtime).major_incidents), log=[*row.log, entry]))
    await _emit(runtime, session, MajorIncidentChanged(
        major_incident_id=row.id, status=mi.status, change=change,  # type: ignore[arg-type]
        by=by, note=note, changed_at=now))


# --- problems -------------------------------------------------------------------------

async def _problem(runtime: Runtime, session: AsyncSession, ticket: TicketFacts) -> None:
    policy = _policy(runtime).problems
    span = timedelta(days=policy.window_days)  # either side: not always logged in order
    window = _window(ticket.created_at - span, ticket.created_at + span).cte("recent")
    attributes = problems.before_text(policy)
    counts: dict[str, dict[str | None, int]] = {b: {} for b in attributes}
    if attributes:  # how many other incidents carry each value: one statement
        for basis, value, count in (await session.execute(union_all(*(
                select(literal(b), window.c[b], func.count())
                .where(window.c.ticket_id != ticket.ticket_id).group_by(window.c[b])
                for b in attributes)))).all():
            counts[basis][value] = count
    bases = problems.candidates(ticket, counts, policy)  # type: ignore[arg-type]
    if bases is None:
        return
    found = None
    if bases:  # only the groups large enough to settle on, not every incident
        recent = [facts_of(row) for row in (await session.execute(
            select(window).where(or_(*(window.c[b].in_(problems.same_values(
                ticket, b, counts[b])) for b in bases)))
            .order_by(window.c.created_at.desc()))).all()]
        found = problems.find_recurrence(ticket, recent, policy.model_copy(
            update={"by": attributes}))
    if found is None and "text" in policy.by:  # the titles: every incident in the window
        recent = [facts_of(row) for row in (await session.execute(
            select(window).order_by(window.c.created_at.desc()))).all()]
        found = problems.find_recurrence(ticket, recent, policy)
    if found is None:
        return
    key = f"{found.basis}:{found.key}"
    now = runtime.clock.now()
    problem_id = uuid4()
    ids = [str(t) for t in found.ticket_ids]
    inserted = await session.scalar(pg_insert(problems_table).values(
        id=problem_id, key=key, basis=found.basis, reason=found.reason,
        service=ticket.service, category=ticket.category, status="open", ticket_ids=ids,
        identified_at=now,
    ).on_conflict_do_nothing(index_elements=["key"], index_where=text("status = 'open'"))
        .returning(problems_table.c.id))
    if inserted is None:
        existing = (await session.execute(select(problems_table).where(
            problems_table.c.key == key, problems_table.c.status == "open")
            .with_for_update())).first()
        assert existing is not None
        held = set(existing.ticket_ids)
        joining = [i for i in ids if i not in held]
        if not joining:
            return  # the group is in the problem already, its tickets linked when they joined
        await session.execute(update(problems_table).where(problems_table.c.id == existing.id)
                              .values(ticket_ids=[*existing.ticket_ids, *joining]))
        problem_id, linking = existing.id, [UUID(i) for i in joining]
    else:
        await _emit(runtime, session, ProblemIdentified(
            problem_id=problem_id, reason=found.reason, service=ticket.service,
            category=ticket.category, ticket_ids=list(found.ticket_ids), identified_at=now))
        linking = list(found.ticket_ids)
    await session.execute(update(tickets).where(
        tickets.c.ticket_id.in_(linking), tickets.c.problem_id.is_(None))
        .values(problem_id=problem_id))


async def record_workaround(runtime: Runtime, session: AsyncSession, problem_id: UUID,
                            title: str, workaround: str, by: str) -> Any:
    row = (await session.execute(select(problems_table).where(
        problems_table.c.id == problem_id).with_for_update())).first()
    if row is None:
        return None
    now = runtime.clock.now()
    await session.execute(update(problems_table).where(problems_table.c.id == problem_id)
                          .values(workaround=workaround))
    await _emit(runtime, session, ProblemWorkaroundRecorded(
        problem_id=problem_id, title=title, workaround=workaround, by=by, recorded_at=now))
    return row
