"""Intake's use cases: log a ticket, apply a lifecycle event, auto-close. Each writes the
ticket, its history and its events in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake import lifecycle
from tierline_intake.audit import audit_added, audit_ticket, snapshot
from tierline_intake.classify import classify
from tierline_intake.directory_service import profile_of, recent_tickets
from tierline_intake.models import history, tickets
from tierline_intake.priority import PriorityOverride, Signals
from tierline_intake.schemas import (
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
    Event,
    ReassignmentRequested,
    SurveyAnswered,
    SurveyRequested,
    TicketCommented,
    TicketCreated,
    TicketEscalated,
    TicketPriorityChanged,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork, add_row


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
    data = {k: v for k, v in row.items() if k in TicketOut.model_fields}
    return TicketOut(type=row["ticket_type"], **data).model_dump(mode="json")


def validate_choices(runtime: Runtime, body: TicketIn) -> None:
    taxonomy = runtime.state["taxonomy"]
    policy = runtime.state["priority_policy"]
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


async def _record(runtime: Runtime, session: AsyncSession, ticket_id: UUID, kind: str,
                  actor: str | None, detail: dict[str, Any]) -> dict[str, Any]:
    entry = {"ticket_id": ticket_id, "kind": kind, "actor": actor, "at": runtime.clock.now(),
             "detail": detail}
    await add_row(session, history, entry)
    return {k: v for k, v in entry.items() if k != "ticket_id"}


async def _emit(runtime: Runtime, session: AsyncSession, ticket_type: str, event: Event) -> None:
    envelope = runtime.envelope(event)
    await runtime.emit(session, runtime.topics.for_type(ticket_type), envelope)
    notify = runtime.state.get("webhooks_enqueue")  # outbound webhooks, same transaction
    if notify is not None:
        await notify(session, envelope)


async def log_ticket(runtime: Runtime, session: AsyncSession, body: TicketIn,
                     deflected: bool = False) -> tuple[int, dict[str, Any]]:
    """Log a ticket; ``deflected`` marks one that self-service resolves before any agent
    sees it (router never routes it)."""
    validate_choices(runtime, body)
    affected = body.affected
    requester = body.requester.model_dump(mode="json", exclude_none=True)
    customer = await profile_of(runtime, session, body.requester.id, body.requester.email)
    if customer is not None:  # the directory knows the customer: plan, VIP, language
        requester["vip"] = body.requester.vip or customer["vip"]
        if body.requester.plan is None and customer["plan"] is not None:
            requester["plan"] = customer["plan"]
    recent = await recent_tickets(session, sorted({body.requester.id,
                                                   (customer or {}).get("customer_id")
                                                   or body.requester.id}))
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
    result = classify(
        title=body.title, description=body.description, categorizer=runtime.state["categorizer"],
        priority_policy=runtime.state["priority_policy"], signals=signals,
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
    suggest = runtime.state.get("kb_suggest")
    if suggest is not None:
        context["kb_suggestions"] = await suggest(session, f"{body.title}\n{body.description}")
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
    await session.execute(insert(tickets).values(**row))
    await audit_ticket(runtime, session, row["id"], "created", {}, snapshot(row))
    await _record(runtime, session, row["id"], "created", body.requester.id,
                  {"priority": result.priority, "category": result.category,
                   "type": result.ticket_type})
    await _emit(runtime, session, result.ticket_type, TicketCreated(
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
    query = select(tickets).where(tickets.c.id == ticket_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row is not None else None


async def get_history(session: AsyncSession, ticket_id: UUID) -> list[dict[str, Any]]:
    rows = (await session.execute(select(history).where(history.c.ticket_id == ticket_id)
                                  .order_by(history.c.id))).all()
    return [{"kind": r.kind, "actor": r.actor, "at": r.at, "detail": r.detail} for r in rows]


async def _transition(runtime: Runtime, session: AsyncSession, row: dict[str, Any],
                      move: lifecycle.Transition, *, actor: str | None, note: str | None = None,
                      resolution_notes: str | None = None) -> dict[str, Any]:
    now = runtime.clock.now()
    changes: dict[str, Any] = {"status": move.to_status, "updated_at": now}
    if move.to_status == "resolved":
        changes["resolved_at"] = now
    if move.to_status == "closed":
        changes.update(closed_at=now, closed_by=move.closed_by)
    if move.to_status == "reopened":
        changes.update(reopen_count=row["reopen_count"] + 1, resolved_at=None)
    await session.execute(update(tickets).where(tickets.c.id == row["id"]).values(**changes))
    before = snapshot(row)
    row.update(changes)
    await audit_ticket(runtime, session, row["id"], "status_changed", before,
                       {**snapshot(row), "resolution_notes": resolution_notes})
    detail = {"from": move.from_status, "to": move.to_status, "auto": move.auto,
              "closed_by": move.closed_by, "note": note, "resolution_notes": resolution_notes}
    entry = await _record(runtime, session, row["id"], "status_changed", actor,
                          {k: v for k, v in detail.items() if v is not None})
    await _emit(runtime, session, row["ticket_type"], TicketStatusChanged(
        ticket_id=row["id"], ticket_type=row["ticket_type"], from_status=move.from_status,
        to_status=move.to_status, actor=actor, note=note, resolution_notes=resolution_notes,
        auto=move.auto, closed_by=move.closed_by, priority=row["priority"],
        category=row["category"], channel=row["channel"], changed_at=now))
    if move.to_status == "resolved":
        await _emit(runtime, session, row["ticket_type"], SurveyRequested(
            ticket_id=row["id"], requester_id=row["requester"]["id"], channel=row["channel"],
            requested_at=now))
    return entry


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
    entry = await _record(runtime, session, row["id"], "priority_changed", by,
                          {"from": row["priority"], "to": priority, "reason": why})
    await _emit(runtime, session, row["ticket_type"], TicketPriorityChanged(
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
            entry = await _transition(runtime, session, row, move, actor=event.actor,
                                      note=event.note, resolution_notes=event.resolution_notes)
            if event.propose_article:
                if event.status != "resolved":
                    raise InvalidInput("body.propose_article",
                                       "an article is proposed on resolving")
                assert event.resolution_notes is not None
                await runtime.state["kb_propose"](session, row, event.actor,
                                                  event.resolution_notes)
        elif isinstance(event, CustomerReply):
            try:
                move = lifecycle.customer_reply(status, event.fixed)
            except ValueError as exc:
                raise InvalidInput("body.fixed", str(exc)) from None
            requester = row["requester"]["id"]
            if move is not None:
                entry = await _transition(runtime, session, row, move, actor=requester,
                                          note=event.text)
            else:
                entry = await _record(runtime, session, row["id"], "customer_replied",
                                      requester, {"text": event.text})
                await audit_added(runtime, session, row["id"], "customer_replied",
                                  "customer_reply", {"fixed": event.fixed, "text": event.text})
            if event.text:  # the customer's words: sla reads their sentiment
                await _emit(runtime, session, row["ticket_type"], TicketCommented(
                    ticket_id=row["id"], author=requester, public=True, from_requester=True,
                    text=event.text, commented_at=now))
        elif isinstance(event, Comment):
            entry = await _record(runtime, session, row["id"], "commented", event.author,
                                  {"text": event.text, "public": event.public})
            await audit_added(runtime, session, row["id"], "commented", "comment",
                              {"author": event.author, "text": event.text,
                               "public": event.public})
            await _emit(runtime, session, row["ticket_type"], TicketCommented(
                ticket_id=row["id"], author=event.author, public=event.public,
                text=event.text, commented_at=now))
        elif isinstance(event, ReassignmentRequest):
            if not lifecycle.can_request_reassignment(status):
                raise EventRefused(status, f"a {status} ticket cannot be reassigned")
            detail = event.model_dump(exclude={"type"}, exclude_none=True)
            entry = await _record(runtime, session, row["id"], "reassignment_requested",
                                  event.requested_by, detail)
            await audit_added(runtime, session, row["id"], "reassignment_requested",
                              "reassignment_request", detail)
            await _emit(runtime, session, row["ticket_type"], ReassignmentRequested(
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
            entry = await _record(runtime, session, row["id"], f"{event.type}_answered",
                                  row["requester"]["id"],
                                  {"score": event.score, "comment": event.comment})
            await _emit(runtime, session, row["ticket_type"], SurveyAnswered(
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
            await _transition(runtime, session, row, lifecycle.auto_close(row["status"]),
                              actor="tierline",
                              note=f"no customer reply within "
                                   f"{runtime.settings.autoclose_after_hours:g} hours")
    return len(rows)
