"""Chat and IVR contacts: each interaction event, from REST or the interactions topic,
recorded and applied in the caller's transaction.

A contact links to the ticket it names, or to the customer's open ticket about the same
issue (a repeat contact, counted on that ticket); otherwise it opens a ticket when it needs
an agent: an agent writes, it is handed to another channel, or it ends unresolved. Resolved
by self-service before that, it opens its ticket deflected and resolved: no agent sees it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.context import intake_context
from tierline_intake.interactions.domain import REPEAT_WINDOW, Candidate, match_repeat, transcript
from tierline_intake.models import REQUESTER_ID, interaction_events, interactions, tickets
from tierline_intake.tickets import lifecycle
from tierline_intake.tickets.audit import audit_added, audit_ticket
from tierline_intake.tickets.recorder import emit_ticket_event, record_history, transition
from tierline_intake.tickets.schemas import TicketIn
from tierline_intake.tickets.service import (
    InvalidInput,
    get_ticket,
    log_ticket,
)
from tierline_shared.bus.events import (
    InteractionOccurred,
    SurveyAnswered,
    TicketCommented,
    TicketContactLinked,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork


class InteractionNotFound(Exception):
    pass


class InteractionRefused(Exception):
    def __init__(self, status: str, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


def interaction_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "channel", "customer_id", "customer_name", "status",
                               "about", "transferred_from", "repeat", "deflected",
                               "self_service_outcome", "csat", "suggestions")}
    for key in ("ticket_id", "article_id"):
        out[key] = str(row[key]) if row[key] is not None else None
    for key in ("started_at", "ended_at"):
        out[key] = row[key].isoformat() if row[key] is not None else None
    return out


async def get_interaction(session: AsyncSession, interaction_id: str,
                          for_update: bool = False) -> dict[str, Any] | None:
    query = select(interactions).where(interactions.c.id == interaction_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row is not None else None


async def chain_history(session: AsyncSession, interaction_id: str) -> list[dict[str, Any]]:
    """The events of this contact and of every leg it continues, oldest first."""
    legs: list[dict[str, Any]] = []
    current: str | None = interaction_id
    while current is not None and len(legs) < 50:
        row = await get_interaction(session, current)
        if row is None or any(leg["id"] == row["id"] for leg in legs):
            break
        legs.append(row)
        current = row["transferred_from"]
    channels = {leg["id"]: leg["channel"] for leg in legs}
    rows = (await session.execute(select(interaction_events).where(
        interaction_events.c.interaction_id.in_(list(channels))).order_by(
        interaction_events.c.at, interaction_events.c.id))).all()
    return [{"interaction_id": r.interaction_id, "channel": channels[r.interaction_id],
             "kind": r.kind, "at": r.at.isoformat(), "detail": r.detail} for r in rows]


async def ticket_interactions(session: AsyncSession, ticket_id: UUID) -> list[dict[str, Any]]:
    rows = (await session.execute(select(interactions).where(
        interactions.c.ticket_id == ticket_id).order_by(interactions.c.started_at))).all()
    return [interaction_out(dict(r._mapping)) for r in rows]


async def _log(session: AsyncSession, ev: InteractionOccurred, interaction_id: str | None = None,
               kind: str | None = None, detail: dict[str, Any] | None = None) -> None:
    if detail is None:
        detail = ev.model_dump(mode="json", exclude_none=True,
                               exclude={"interaction_id", "kind", "occurred_at"})
        if not detail.get("menu_path"):
            detail.pop("menu_path", None)
    await session.execute(insert(interaction_events).values(
        interaction_id=interaction_id or ev.interaction_id, kind=kind or ev.kind,
        at=ev.occurred_at, detail=detail))


async def _candidates(session: AsyncSession, customer_id: str,
                      since: datetime) -> list[Candidate]:
    rows = (await session.execute(select(
        tickets.c.id, tickets.c.title, tickets.c.description, tickets.c.status,
        tickets.c.updated_at).where(
        REQUESTER_ID == customer_id, tickets.c.status != "closed",
        tickets.c.updated_at >= since).order_by(tickets.c.updated_at.desc()).limit(50))).all()
    return [Candidate(r.id, f"{r.title}\n{r.description}", r.status, r.updated_at)
            for r in rows]


async def _link(runtime: Runtime, session: AsyncSession, inter: dict[str, Any],
                ticket: dict[str, Any], *, repeat: bool, reason: str,
                effects: list[str]) -> None:
    now = runtime.clock.now()
    await session.execute(update(interactions).where(interactions.c.id == inter["id"]).values(
        ticket_id=ticket["id"], repeat=repeat, updated_at=now))
    inter.update(ticket_id=ticket["id"], repeat=repeat)
    before = {"repeat_contacts": ticket["repeat_contacts"]}
    if repeat:
        ticket["repeat_contacts"] += 1
        await session.execute(update(tickets).where(tickets.c.id == ticket["id"]).values(
            repeat_contacts=ticket["repeat_contacts"], updated_at=now))
        effects.append("repeat_contact")
    await audit_ticket(runtime, session, ticket["id"], "contact_linked", before, {
        "repeat_contacts": ticket["repeat_contacts"],
        "contact": {"interaction_id": inter["id"], "channel": inter["channel"],
                    "repeat": repeat, "transferred_from": inter["transferred_from"]}})
    await record_history(runtime, session, ticket["id"], "contact_linked", inter["customer_id"], {
        "interaction_id": inter["id"], "channel": inter["channel"], "repeat": repeat,
        "transferred_from": inter["transferred_from"], "reason": reason})
    await emit_ticket_event(runtime, session, ticket["ticket_type"], TicketContactLinked(
        ticket_id=ticket["id"], interaction_id=inter["id"], channel=inter["channel"],
        repeat=repeat, repeat_contacts=ticket["repeat_contacts"],
        transferred_from=inter["transferred_from"], reason=reason, linked_at=now))


async def _try_repeat(runtime: Runtime, session: AsyncSession, inter: dict[str, Any],
                      text: str, at: datetime, effects: list[str]) -> None:
    found = match_repeat(text, at, await _candidates(session, inter["customer_id"],
                                                     at - REPEAT_WINDOW))
    if found is None:
        return
    ticket = await get_ticket(session, found.ticket_id, for_update=True)
    assert ticket is not None
    await _link(runtime, session, inter, ticket, repeat=True, reason=found.reason,
                effects=effects)


async def _open_ticket(runtime: Runtime, session: AsyncSession, inter: dict[str, Any],
                       effects: list[str], deflected: bool = False) -> dict[str, Any]:
    rows = (await session.execute(select(
        interaction_events.c.kind, interaction_events.c.detail).where(
        interaction_events.c.interaction_id == inter["id"]).order_by(
        interaction_events.c.id))).all()
    lines = transcript([(r.kind, r.detail.get("author"),
                         r.detail.get("text") or " > ".join(r.detail.get("menu_path", [])))
                        for r in rows])
    about = inter["about"] or f"Customer contact by {inter['channel']}"
    requester = {"id": inter["customer_id"]}
    if inter["customer_name"]:
        requester["name"] = inter["customer_name"]
    body = TicketIn.model_validate({
        "title": " ".join(about.split())[:200], "channel": inter["channel"],
        "description": (f"{about}\n\n{lines}" if lines else about)[:20000],
        "requester": requester})
    _, created = await log_ticket(runtime, session, body, deflected=deflected)
    ticket = await get_ticket(session, UUID(str(created["id"])), for_update=True)
    assert ticket is not None
    effects.append("ticket_opened")
    await _link(runtime, session, inter, ticket, repeat=False,
                reason=f"opened by this {inter['channel']} contact", effects=effects)
    return ticket


async def _ensure_ticket(runtime: Runtime, session: AsyncSession, inter: dict[str, Any],
                         effects: list[str]) -> dict[str, Any]:
    if inter["ticket_id"] is not None:
        ticket = await get_ticket(session, inter["ticket_id"], for_update=True)
        assert ticket is not None
        return ticket
    return await _open_ticket(runtime, session, inter, effects)


async def _new_interaction(runtime: Runtime, session: AsyncSession, ev: InteractionOccurred,
                           *, interaction_id: str, channel: str, customer_id: str,
                           customer_name: str | None, about: str | None,
                           transferred_from: str | None) -> dict[str, Any]:
    row = {"id": interaction_id, "channel": channel, "customer_id": customer_id,
           "customer_name": customer_name, "ticket_id": None, "status": "open",
           "about": about, "transferred_from": transferred_from, "repeat": False,
           "deflected": False, "self_service_outcome": None, "article_id": None, "csat": None,
           "suggestions": [], "started_at": ev.occurred_at, "ended_at": None,
           "updated_at": runtime.clock.now()}
    if about:
        row["suggestions"] = await intake_context(runtime).knowledge_base.suggest(session, about)
    await session.execute(insert(interactions).values(**row))
    return row


async def _end(session: AsyncSession, inter: dict[str, Any], status: str,
               at: datetime) -> None:
    await session.execute(update(interactions).where(interactions.c.id == inter["id"]).values(
        status=status, ended_at=at, updated_at=at))
    inter.update(status=status, ended_at=at)


async def _hand_over(runtime: Runtime, session: AsyncSession, ev: InteractionOccurred,
                     old: dict[str, Any], new_id: str, channel: str,
                     effects: list[str]) -> dict[str, Any]:
    """Continue ``old`` as ``new_id`` on ``channel``: same customer, same ticket (opened now
    if the contact had none), ``old`` marked transferred; its history stays readable."""
    ticket = await _ensure_ticket(runtime, session, old, effects)
    if old["status"] == "open":
        await _end(session, old, "transferred", ev.occurred_at)
    new = await get_interaction(session, new_id, for_update=True)
    if new is None:
        new = await _new_interaction(runtime, session, ev, interaction_id=new_id,
                                     channel=channel, customer_id=old["customer_id"],
                                     customer_name=old["customer_name"], about=old["about"],
                                     transferred_from=old["id"])
    elif new["transferred_from"] is None:
        await session.execute(update(interactions).where(interactions.c.id == new_id).values(
            transferred_from=old["id"]))
        new["transferred_from"] = old["id"]
    if new["ticket_id"] is None:
        await _link(runtime, session, new, ticket, repeat=False,
                    reason=f"handed off from {old['channel']} contact {old['id']}",
                    effects=effects)
    effects.append("handed_off")
    return new


async def apply_interaction(runtime: Runtime, session: AsyncSession,
                            ev: InteractionOccurred) -> tuple[int, dict[str, Any]]:
    effects: list[str] = []
    inter = await get_interaction(session, ev.interaction_id, for_update=True)
    status = 200
    if ev.kind == "contact_started":
        inter, status = await _start(runtime, session, ev, inter, effects)
    elif inter is None:
        raise InteractionNotFound(ev.interaction_id)
    else:
        await _apply_to(runtime, session, ev, inter, effects)
    return status, {"interaction": interaction_out(inter), "effects": effects}


async def _start(runtime: Runtime, session: AsyncSession, ev: InteractionOccurred,
                 inter: dict[str, Any] | None,
                 effects: list[str]) -> tuple[dict[str, Any], int]:
    assert ev.channel is not None and ev.customer_id is not None
    if inter is not None and not (inter["transferred_from"] and ev.transferred_from):
        raise InteractionRefused(inter["status"], f"interaction {inter['id']} has already "
                                                  f"started")
    if ev.transferred_from is not None:
        old = await get_interaction(session, ev.transferred_from, for_update=True)
        if old is None:
            raise InvalidInput("body.transferred_from",
                               f"no interaction {ev.transferred_from} to continue")
        await _log(session, ev)
        new = await _hand_over(runtime, session, ev, old, ev.interaction_id, ev.channel,
                               effects)
        return new, 201 if inter is None else 200
    ticket = None
    if ev.ticket_id is not None:
        ticket = await get_ticket(session, ev.ticket_id, for_update=True)
        if ticket is None:
            raise InvalidInput("body.ticket_id", f"no ticket {ev.ticket_id}")
        if ticket["status"] == "closed":
            raise InvalidInput("body.ticket_id", f"ticket {ev.ticket_id} is closed; a new "
                                                 "contact opens a new ticket")
    inter = await _new_interaction(runtime, session, ev, interaction_id=ev.interaction_id,
                                   channel=ev.channel, customer_id=ev.customer_id,
                                   customer_name=ev.customer_name, about=ev.about,
                                   transferred_from=None)
    await _log(session, ev)
    if ticket is not None:
        await _link(runtime, session, inter, ticket, repeat=True,
                    reason="the customer contacted again about this ticket", effects=effects)
    elif ev.about:
        await _try_repeat(runtime, session, inter, ev.about, ev.occurred_at, effects)
    return inter, 201


async def _apply_to(runtime: Runtime, session: AsyncSession, ev: InteractionOccurred,
                    inter: dict[str, Any], effects: list[str]) -> None:
    closed_kinds = ("contact_ended", "csat")
    if inter["status"] != "open" and ev.kind not in closed_kinds:
        raise InteractionRefused(inter["status"], f"interaction {inter['id']} is "
                                                  f"{inter['status']}")
    await _log(session, ev)
    now = runtime.clock.now()
    if ev.kind in ("message", "ivr_menu"):
        text = ev.text if ev.kind == "message" else " > ".join(ev.menu_path)
        assert text is not None
        from_customer = ev.author not in ("agent", "bot")
        if inter["about"] is None and from_customer:
            await session.execute(update(interactions).where(
                interactions.c.id == inter["id"]).values(about=text[:2000]))
            inter["about"] = text[:2000]
        if inter["ticket_id"] is None and from_customer:  # what they said so far
            said = text if inter["about"] == text[:2000] else f"{inter['about']}\n{text}"
            await _try_repeat(runtime, session, inter, said, ev.occurred_at, effects)
        if ev.kind == "message" and ev.author == "agent" and inter["ticket_id"] is None:
            await _open_ticket(runtime, session, inter, effects)
        if ev.kind == "message" and ev.author != "bot" and inter["ticket_id"] is not None:
            ticket = await get_ticket(session, inter["ticket_id"])
            assert ticket is not None and ev.text is not None
            customer = ev.author == "customer"
            await emit_ticket_event(runtime, session, ticket["ticket_type"], TicketCommented(
                ticket_id=ticket["id"], public=True, from_requester=customer, text=ev.text,
                author=inter["customer_id"] if customer else (ev.agent_id or "agent"),
                commented_at=now))
    elif ev.kind == "self_service":
        await session.execute(update(interactions).where(interactions.c.id == inter["id"])
                              .values(self_service_outcome=ev.outcome,
                                      article_id=ev.article_id, updated_at=now))
        inter.update(self_service_outcome=ev.outcome, article_id=ev.article_id)
        if ev.outcome == "resolved" and inter["ticket_id"] is None:
            await _deflect(runtime, session, ev, inter, effects)
    elif ev.kind == "transfer":
        assert ev.to_channel is not None
        new_id = ev.to_interaction_id or f"{inter['id']}>{ev.to_channel}"
        await _hand_over(runtime, session, ev, inter, new_id, ev.to_channel, effects)
    elif ev.kind == "contact_ended":
        if inter["status"] == "open":
            await _end(session, inter, "ended", ev.occurred_at)
        if inter["ticket_id"] is None and not inter["deflected"]:
            await _open_ticket(runtime, session, inter, effects)  # unresolved: follow up
    else:
        assert ev.kind == "csat" and ev.score is not None
        await session.execute(update(interactions).where(interactions.c.id == inter["id"])
                              .values(csat=ev.score, updated_at=now))
        inter["csat"] = ev.score
        if inter["ticket_id"] is not None:
            ticket = await get_ticket(session, inter["ticket_id"])
            assert ticket is not None
            await record_history(runtime, session, ticket["id"], "csat_answered",
                                 inter["customer_id"], {"score": ev.score, "comment": ev.comment,
                                                        "interaction_id": inter["id"]})
            await audit_added(runtime, session, ticket["id"], "csat_answered",
                              "interaction_csat", {"score": ev.score, "comment": ev.comment,
                                                   "interaction_id": inter["id"]})
            await emit_ticket_event(runtime, session, ticket["ticket_type"], SurveyAnswered(
                ticket_id=ticket["id"], kind="csat", score=ev.score, comment=ev.comment,
                answered_at=now))


async def _deflect(runtime: Runtime, session: AsyncSession, ev: InteractionOccurred,
                   inter: dict[str, Any], effects: list[str]) -> None:
    """Self-service resolved the contact before any agent: its ticket opens deflected
    (router never routes it) and resolved, so the contact still counts."""
    ticket = await _open_ticket(runtime, session, inter, effects, deflected=True)
    article = f"knowledge-base article {ev.article_id}" if ev.article_id else "self-service"
    await transition(runtime, session, ticket, lifecycle.Transition(ticket["status"],
                                                                     "resolved"),
                     actor="tier0", resolution_notes=f"resolved by {article}")
    await session.execute(update(interactions).where(interactions.c.id == inter["id"])
                          .values(deflected=True))
    inter["deflected"] = True
    effects.append("deflected")


async def on_interaction(runtime: Runtime, uow: UnitOfWork,
                         d: Delivered[InteractionOccurred]) -> None:
    """An interaction event a front produced on the interactions topic."""
    event = d.event
    await apply_interaction(runtime, uow.session, event)
