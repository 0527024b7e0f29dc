"""Intake's use cases: log a ticket, apply a lifecycle event, auto-close. Each writes the
ticket, its history and its events in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.context import intake_context
from tierline_intake.directory.service import requester_context
from tierline_intake.models import history, tickets
from tierline_intake.tickets import lifecycle
from tierline_intake.tickets.audit import audit_added, audit_ticket, snapshot
from tierline_intake.tickets.classify import classify
from tierline_intake.tickets.priority import PriorityOverride, Signals
from tierline_intake.tickets.recorder import emit_ticket_event, record_history, transition
from tierline_intake.tickets.schemas import (
    Comment,
    Csat,
    CustomerReply,
    Nps,
    PriorityChange,
    ReassignmentRequest,
    StatusChange,
    TicketIn,
    TicketOut,
)
from tierline_shared.bus.events import (
    ReassignmentRequested,
    SurveyAnswered,
    TicketCommented,
    TicketCreated,
    TicketEscalated,
    TicketPriorityChanged,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork, add_row, current


class TicketNotFound(Exception):
    pass


class InvalidInput(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class EventRefused(Exception):
    """The event does not fit the ticket's state (409)."""

    def __init__(self, status: str, why: str, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(why)
        self.status = status
        self.why = why
        self.allowed = allowed


def ticket_out(row: dict[str, Any]) -> dict[str, Any]:
    fields = TicketOut.model_fields  # a class property pydantic rebuilds on every access
    data = {k: v for k, v in row.items() if k in fields}
    return TicketOut(type=row["ticket_type"], **data).model_dump(mode="json")


def validate_choices(runtime: Runtime, body: TicketIn) -> None:
    taxonomy = intake_context(runtime).taxonomy
    policy = intake_context(runtime).priority_policy
    for field in ("impact", "urgency"):
        value = getattr(body, field)
        if value is not None and value not in policy.levels:
            raise InvalidInput(f"body.{field}", f"unknown {field} {value!r}; "
                               f"allowed: {', '.join(policy.levels)}")
    if body.category is not None and body.category not in taxonomy.categories:
        raise InvalidInput("body.category", f"unknown category {body.category!r}; "
                           f"allowed: {', '.join(taxonomy.categories)}")
    if body.subcategory is not None:
        if body.category is None:
            raise InvalidInput("body.subcategory", "a subcategory needs its category")
        allowed = taxonomy.categories[body.category].subcategories
        if body.subcategory not in allowed:
            raise InvalidInput("body.subcategory", f"unknown subcategory "
                               f"{body.subcategory!r} of {body.category}; allowed: "
                               f"{', '.join(allowed)}")


async def log_ticket(runtime: Runtime, session: AsyncSession, body: TicketIn,
                     deflected: bool = False) -> tuple[int, dict[str, Any]]:
    """Log a ticket; ``deflected`` marks one that self-service resolves before any agent
    sees it (router never routes it)."""
    validate_choices(runtime, body)
    affected = body.affected
    requester = body.requester.model_dump(mode="json", exclude_none=True)
    customer, recent = await requester_context(runtime, session, body.requester.id,
                                               body.requester.email)
    if customer is not None:  # the directory knows the customer: plan, VIP, language
        requester["vip"] = body.requester.vip or customer["vip"]
        if body.requester.plan is None and customer["plan"] is not None:
            requester["plan"] = customer["plan"]
    signals = Signals(
        text=f"{body.title}\n{body.description}",
        scope=affected.scope if affected else None,
        affected_count=affected.count if affected else None,
        business_critical=bool(body.service and body.service.business_critical),
        service=body.service.name if body.service else None,
        vip=requester["vip"], plan=requester.get("plan"))
    override = (PriorityOverride(body.priority_override.priority, body.priority_override.by,
                                 body.priority_override.reason)
                if body.priority_override else None)
    ctx = intake_context(runtime)
    result = classify(
        title=body.title, description=body.description, categorizer=ctx.categorizer,
        priority_policy=ctx.priority_policy, signals=signals,
        ticket_type=body.type, category=body.category, subcategory=body.subcategory,
        impact=body.impact, urgency=body.urgency, override=override)
    now = runtime.clock.now()
    context = body.model_dump(mode="json", include={"affected", "service", "started_at", "tried",
                                                    "attachments", "priority_override",
                                                    "workaround_available",
                                                    "compliance_exposure", "deflected_by"},
                              exclude_none=True)
    if customer is not None:
        context["customer"] = customer
    context["recent_tickets"] = recent
    context["kb_suggestions"] = await intake_context(runtime).knowledge_base.suggest(
        session, f"{body.title}\n{body.description}")
    reasons = result.reason_dicts()
    if customer is not None:
        reasons.append({"field": "customer", "value": customer["customer_id"],
                        "source": "inferred", "reason": _directory_reason(customer)})
    row: dict[str, Any] = {
        "id": uuid4(), "ticket_type": result.ticket_type, "status": "new",
        "title": body.title, "description": body.description,
        "requester": requester, "channel": body.channel, "impact": result.impact,
        "urgency": result.urgency,
        "priority": result.priority, "category": result.category,
        "subcategory": result.subcategory, "category_confidence": result.category_confidence,
        "needs_triage": result.needs_triage, "reasons": reasons,
        "context": context, "external_system": body.external_system,
        "external_id": body.external_id, "created_at": now, "updated_at": now,
        "reopen_count": 0, "repeat_contacts": 0, "deflected": deflected,
    }
    await add_row(session, tickets, row)  # with its audit, history and events, at commit
    await audit_ticket(runtime, session, row["id"], "created", {}, snapshot(row))
    await record_history(runtime, session, row["id"], "created", body.requester.id,
                         {"priority": result.priority, "category": result.category,
                   "type": result.ticket_type})
    await emit_ticket_event(runtime, session, result.ticket_type, TicketCreated(
        ticket_id=row["id"], ticket_type=result.ticket_type, title=body.title,
        category=result.category, subcategory=result.subcategory,
        needs_triage=result.needs_triage, priority=result.priority, impact=result.impact,
        urgency=result.urgency, channel=body.channel, requester_id=body.requester.id,
        vip=requester["vip"], plan=requester.get("plan"),
        language=(customer or {}).get("language") or "en",
        service=body.service.name if body.service else None,
        configuration_item=body.service.configuration_item if body.service else None,
        business_critical=signals.business_critical, affected_scope=signals.scope,
        workaround_available=body.workaround_available,
        compliance_exposure=body.compliance_exposure, reported_start=body.started_at,
        deflected=deflected, created_at=now))
    return 201, ticket_out(row)


def _directory_reason(customer: dict[str, Any]) -> str:
    facts = [f"{k} {customer[k]}" for k in ("plan", "tier", "region", "language")
             if customer.get(k)]
    if customer.get("vip"):
        facts.append("VIP")
    if customer.get("tenure_months") is not None:
        facts.append(f"customer for {customer['tenure_months']} months")
    return "customer directory: " + (", ".join(facts) or "no profile values")


async def get_ticket(session: AsyncSession, ticket_id: UUID,
                     for_update: bool = False) -> dict[str, Any] | None:
    uow = current(session)
    if uow is not None and uow.pending(tickets):  # a ticket logged in this transaction
        await uow.flush()
    query = select(tickets).where(tickets.c.id == ticket_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row is not None else None


async def get_history(session: AsyncSession, ticket_id: UUID) -> list[dict[str, Any]]:
    rows = (await session.execute(select(history).where(history.c.ticket_id == ticket_id)
                                  .order_by(history.c.id))).all()
    return [{"kind": r.kind, "actor": r.actor, "at": r.at, "detail": r.detail} for r in rows]


async def change_priority(runtime: Runtime, session: AsyncSession, row: dict[str, Any],
                          priority: str, by: str, why: str | None) -> dict[str, Any]:
    """Set a new priority, with who and why in the reasons and the history, and publish it
    (sla re-targets its clocks, router re-orders its queue)."""
    now = runtime.clock.now()
    reason = f"changed by {by} from {row['priority']}"
    if why:
        reason += f": {why}"
    reasons = [*row["reasons"], {"field": "priority", "value": priority, "source": "override",
                                 "reason": reason}]
    await session.execute(update(tickets).where(tickets.c.id == row["id"]).values(
        priority=priority, reasons=reasons, updated_at=now))
    await audit_ticket(runtime, session, row["id"], "priority_changed",
                       {"priority": row["priority"]}, {"priority": priority})
    entry = await record_history(runtime, session, row["id"], "priority_changed", by,
                                 {"from": row["priority"], "to": priority, "reason": why})
    await emit_ticket_event(runtime, session, row["ticket_type"], TicketPriorityChanged(
        ticket_id=row["id"], from_priority=row["priority"], to_priority=priority, by=by,
        reason=why, changed_at=now))
    row.update(priority=priority, reasons=reasons)
    return entry


async def on_escalated(runtime: Runtime, uow: UnitOfWork, d: Delivered[TicketEscalated]) -> None:
    """A hierarchical escalation that raises the priority: intake owns the ticket, so it
    makes the change (only upward, never on a closed ticket)."""
    event = d.event
    if event.raise_priority_to is None:
        return
    row = await get_ticket(uow.session, event.ticket_id, for_update=True)
    if row is None or row["status"] == "closed" or event.raise_priority_to >= row["priority"]:
        return
    await change_priority(runtime, uow.session, row, event.raise_priority_to, "tierline-sla",
                          f"escalation {event.rule} (level {event.level}): {event.reason}")


async def apply_event(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                      event: Any) -> tuple[int, dict[str, Any]]:
    row = await get_ticket(session, ticket_id, for_update=True)
    if row is None:
        raise TicketNotFound(ticket_id)
    status = row["status"]
    now = runtime.clock.now()
    try:
        if isinstance(event, StatusChange):
            if event.status == "resolved" and not event.resolution_notes:
                raise InvalidInput("body.resolution_notes",
                                   "resolution_notes are required to resolve a ticket")
            move = lifecycle.change_status(status, event.status)
            entry = await transition(runtime, session, row, move, actor=event.actor,
                                     note=event.note, resolution_notes=event.resolution_notes)
            if event.propose_article:
                if event.status != "resolved":
                    raise InvalidInput("body.propose_article",
                                       "an article is proposed on resolving")
                assert event.resolution_notes is not None
                await intake_context(runtime).knowledge_base.propose(
                    session, row, event.actor, event.resolution_notes)
        elif isinstance(event, CustomerReply):
            try:
                move = lifecycle.customer_reply(status, event.fixed)
            except ValueError as exc:
                raise InvalidInput("body.fixed", str(exc)) from None
            requester = row["requester"]["id"]
            if move is not None:
                entry = await transition(runtime, session, row, move, actor=requester,
                                         note=event.text)
            else:
                entry = await record_history(runtime, session, row["id"], "customer_replied",
                                             requester, {"text": event.text})
                await audit_added(runtime, session, row["id"], "customer_replied",
                                  "customer_reply", {"fixed": event.fixed, "text": event.text})
            if event.text:  # the customer's words: sla reads their sentiment
                await emit_ticket_event(runtime, session, row["ticket_type"], TicketCommented(
                    ticket_id=row["id"], author=requester, public=True, from_requester=True,
                    text=event.text, commented_at=now))
        elif isinstance(event, Comment):
            entry = await record_history(runtime, session, row["id"], "commented", event.author,
                                         {"text": event.text, "public": event.public})
            await audit_added(runtime, session, row["id"], "commented", "comment",
                              {"author": event.author, "text": event.text,
                               "public": event.public})
            await emit_ticket_event(runtime, session, row["ticket_type"], TicketCommented(
                ticket_id=row["id"], author=event.author, public=event.public,
                text=event.text, commented_at=now))
        elif isinstance(event, ReassignmentRequest):
            if not lifecycle.can_request_reassignment(status):
                raise EventRefused(status, f"a {status} ticket cannot be reassigned")
            detail = event.model_dump(exclude={"type"}, exclude_none=True)
            entry = await record_history(runtime, session, row["id"], "reassignment_requested",
                                         event.requested_by, detail)
            await audit_added(runtime, session, row["id"], "reassignment_requested",
                              "reassignment_request", detail)
            await emit_ticket_event(runtime, session, row["ticket_type"], ReassignmentRequested(
                ticket_id=row["id"], requested_by=event.requested_by, reason=event.reason,
                to_tier=event.to_tier, to_skill=event.to_skill, requested_at=now))
        elif isinstance(event, PriorityChange):
            if status == "closed":
                raise EventRefused(status, "a closed ticket's priority cannot change")
            if event.priority == row["priority"]:
                raise InvalidInput("body.priority", f"the ticket is already {event.priority}")
            entry = await change_priority(runtime, session, row, event.priority, event.by,
                                          event.reason)
        else:
            assert isinstance(event, Csat | Nps)
            if not lifecycle.can_answer_survey(status):
                raise EventRefused(status, f"the survey is answered once the ticket is "
                                   f"resolved; this one is {status}")
            await session.execute(update(tickets).where(tickets.c.id == row["id"])
                                  .values({event.type: event.score, "updated_at": now}))
            await audit_ticket(runtime, session, row["id"], f"{event.type}_answered",
                               {event.type: row[event.type]},
                               {event.type: event.score, f"{event.type}_comment": event.comment})
            row[event.type] = event.score
            entry = await record_history(runtime, session, row["id"], f"{event.type}_answered",
                                         row["requester"]["id"],
                                         {"score": event.score, "comment": event.comment})
            await emit_ticket_event(runtime, session, row["ticket_type"], SurveyAnswered(
                ticket_id=row["id"], kind=event.type, score=event.score,
                comment=event.comment, answered_at=now))
    except lifecycle.TransitionRefused as refused:
        raise EventRefused(refused.current, refused.why, refused.allowed) from None
    row["updated_at"] = now
    return 200, {"ticket": ticket_out(row), "entry": {**entry, "at": entry["at"].isoformat()}}


async def auto_close_due(runtime: Runtime, limit: int = 200) -> int:
    """Close resolved tickets whose customer has not replied within the period."""
    cutoff = runtime.clock.now() - timedelta(hours=runtime.settings.autoclose_after_hours)
    async with runtime.transaction() as uow:
        session = uow.session
        rows = (await session.execute(
            select(tickets).where(tickets.c.status == "resolved",
                                  tickets.c.resolved_at <= cutoff)
            .order_by(tickets.c.resolved_at).limit(limit).with_for_update(skip_locked=True)
        )).all()
        for found in rows:
            row = dict(found._mapping)
            await transition(runtime, session, row, lifecycle.auto_close(row["status"]),
                             actor="tierline",
                             note=f"no customer reply within "
                                   f"{runtime.settings.autoclose_after_hours:g} hours")
    return len(rows)


async def log_ticket_or_deflect(runtime: Runtime, session: AsyncSession,
                                body: TicketIn) -> tuple[int, dict[str, Any]]:
    """Log a ticket; one the customer says an article already resolved is logged deflected
    and resolved: counted, never routed to an agent."""
    if body.deflected_by is None:
        return await log_ticket(runtime, session, body)
    article = await intake_context(runtime).knowledge_base.published_article(
        session, body.deflected_by)
    if article is None:
        raise InvalidInput("body.deflected_by", f"no published article {body.deflected_by}")
    _, created = await log_ticket(runtime, session, body, deflected=True)
    row = await get_ticket(session, UUID(str(created["id"])), for_update=True)
    assert row is not None
    await transition(runtime, session, row, lifecycle.Transition("new", "resolved"),
                     actor="tier0", resolution_notes=f"resolved by knowledge-base article "
                                                      f"{article['title']!r} ({article['id']})")
    return 201, ticket_out(row)
