"""The knowledge base's storage and its uses: suggestions for every new ticket and chat,
tickets deflected by an article, proposals from Tier 2 resolutions and from problem
workarounds, stale articles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake import lifecycle
from tierline_intake.audit import audit_added, audit_ticket
from tierline_intake.kb import STALE_AFTER, Article, KbIndex
from tierline_intake.models import interactions, kb_articles, tickets
from tierline_intake.schemas import TicketIn
from tierline_intake.service import (
    InvalidInput,
    _record,
    _transition,
    get_ticket,
    log_ticket,
    ticket_out,
)
from tierline_shared.bus.events import ProblemWorkaroundRecorded, TicketAssigned
from tierline_shared.bus.handlers import Delivered
from tierline_shared.pagination import fetch_page, page
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork

PUBLISHED = "published"
PROPOSED = "proposed"


def article_out(row: dict[str, Any], now: Any = None) -> dict[str, Any]:
    out = {k: row[k] for k in ("title", "body", "category", "owner", "status")}
    out["id"] = str(row["id"])
    out["source_ticket_id"] = str(row["source_ticket_id"]) if row["source_ticket_id"] else None
    for key in ("last_reviewed_at", "created_at", "updated_at"):
        out[key] = row[key].isoformat()
    if now is not None:
        out["days_since_review"] = (now - row["last_reviewed_at"]).days
    return out


async def _index(runtime: Runtime, session: AsyncSession) -> KbIndex:
    """The published articles' index, rebuilt only when they changed."""
    version = tuple((await session.execute(select(
        func.count(), func.max(kb_articles.c.updated_at)).where(
        kb_articles.c.status == PUBLISHED))).one())
    cached = runtime.state.get("_kb_index")
    if cached is not None and cached[0] == version:
        return cached[1]  # type: ignore[no-any-return]
    rows = (await session.execute(select(
        kb_articles.c.id, kb_articles.c.title, kb_articles.c.body, kb_articles.c.category)
        .where(kb_articles.c.status == PUBLISHED).order_by(kb_articles.c.created_at))).all()
    index = KbIndex([Article(r.id, r.title, r.body, r.category) for r in rows])
    runtime.state["_kb_index"] = (version, index)
    return index


async def suggest(runtime: Runtime, session: AsyncSession, text: str) -> list[dict[str, Any]]:
    """The top 3 published articles for these words, with their scores."""
    return [s.as_dict() for s in (await _index(runtime, session)).search(text)]


async def create_article(runtime: Runtime, session: AsyncSession, *, title: str, body: str,
                         owner: str, category: str | None = None, status: str = PUBLISHED,
                         last_reviewed_at: Any = None,
                         source_ticket_id: UUID | None = None) -> dict[str, Any]:
    now = runtime.clock.now()
    row = {"id": uuid4(), "title": title, "body": body, "category": category, "owner": owner,
           "status": status, "last_reviewed_at": last_reviewed_at or now,
           "source_ticket_id": source_ticket_id, "created_at": now, "updated_at": now}
    await session.execute(insert(kb_articles).values(**row))
    return row


async def get_article(session: AsyncSession, article_id: UUID,
                      for_update: bool = False) -> dict[str, Any] | None:
    query = select(kb_articles).where(kb_articles.c.id == article_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row is not None else None


async def list_articles(session: AsyncSession, status: str | None, category: str | None,
                        limit: int, offset: int) -> dict[str, Any]:
    query = select(kb_articles).order_by(kb_articles.c.created_at, kb_articles.c.id)
    if status is not None:
        query = query.where(kb_articles.c.status == status)
    if category is not None:
        query = query.where(kb_articles.c.category == category)
    rows, total = await fetch_page(session, query, limit, offset)
    return page([article_out(dict(r._mapping)) for r in rows], total, limit, offset)


async def change_article(runtime: Runtime, session: AsyncSession, article_id: UUID,
                         **values: Any) -> dict[str, Any] | None:
    row = await get_article(session, article_id, for_update=True)
    if row is None:
        return None
    values["updated_at"] = runtime.clock.now()
    await session.execute(update(kb_articles).where(kb_articles.c.id == article_id)
                          .values(**values))
    row.update(values)
    return row


async def stale_articles(runtime: Runtime, session: AsyncSession, limit: int, offset: int,
                         after: timedelta = STALE_AFTER) -> dict[str, Any]:
    """Published articles nobody reviewed within ``after`` (90 days), oldest review first."""
    now = runtime.clock.now()
    rows, total = await fetch_page(session, select(kb_articles).where(
        kb_articles.c.status == PUBLISHED, kb_articles.c.last_reviewed_at < now - after)
        .order_by(kb_articles.c.last_reviewed_at, kb_articles.c.id), limit, offset)
    return page([article_out(dict(r._mapping), now) for r in rows], total, limit, offset)


async def deflections(session: AsyncSession, article_id: UUID) -> int:
    """Contacts and tickets this article resolved before any agent."""
    by_contacts = await session.scalar(select(func.count()).where(
        interactions.c.article_id == article_id, interactions.c.deflected.is_(True)))
    by_tickets = await session.scalar(select(func.count()).where(
        tickets.c.deflected.is_(True),
        tickets.c.context["deflected_by"].astext == str(article_id)))
    return int(by_contacts or 0) + int(by_tickets or 0)


async def log_ticket_or_deflect(runtime: Runtime, session: AsyncSession,
                                body: TicketIn) -> tuple[int, dict[str, Any]]:
    """Log a ticket; one the customer says an article already resolved is logged deflected
    and resolved: counted, never routed to an agent."""
    if body.deflected_by is None:
        return await log_ticket(runtime, session, body)
    article = await get_article(session, body.deflected_by)
    if article is None or article["status"] != PUBLISHED:
        raise InvalidInput("body.deflected_by", f"no published article {body.deflected_by}")
    _, created = await log_ticket(runtime, session, body, deflected=True)
    row = await get_ticket(session, UUID(str(created["id"])), for_update=True)
    assert row is not None
    await _transition(runtime, session, row, lifecycle.Transition("new", "resolved"),
                      actor="tier0", resolution_notes=f"resolved by knowledge-base article "
                                                      f"{article['title']!r} ({article['id']})")
    return 201, ticket_out(row)


async def propose_from_resolution(runtime: Runtime, session: AsyncSession,
                                  row: dict[str, Any], actor: str | None,
                                  notes: str) -> dict[str, Any]:
    """A resolution at Tier 2 or above proposes an article (status proposed) from the
    ticket's title and resolution notes."""
    tier = row.get("assigned_tier")
    if tier is None or tier < 2:
        held = f"Tier {tier}" if tier is not None else "no known tier"
        raise InvalidInput("body.propose_article", f"only a resolution at Tier 2 or above "
                                                   f"proposes an article; this ticket is at "
                                                   f"{held}")
    article = await create_article(
        runtime, session, title=row["title"], body=notes, category=row["category"],
        owner=actor or row.get("assigned_agent") or "tier2", status=PROPOSED,
        source_ticket_id=row["id"])
    await _record(runtime, session, row["id"], "kb_article_proposed", actor,
                  {"article_id": str(article["id"]), "tier": tier})
    await audit_added(runtime, session, row["id"], "kb_article_proposed", "proposed_article",
                      {"article_id": article["id"], "tier": tier})
    return article


async def on_assigned(runtime: Runtime, uow: UnitOfWork, d: Delivered[TicketAssigned]) -> None:
    """Router placed the ticket: remember who holds it, at which tier."""
    event = d.event
    held = (await uow.session.execute(
        select(tickets.c.assigned_agent, tickets.c.assigned_tier)
        .where(tickets.c.id == event.ticket_id).with_for_update())).first()
    if held is None:
        return
    await uow.session.execute(update(tickets).where(tickets.c.id == event.ticket_id).values(
        assigned_agent=event.agent_id, assigned_tier=event.agent_tier))
    await audit_ticket(runtime, uow.session, event.ticket_id, "assigned",
                       {"assigned_agent": held.assigned_agent,
                        "assigned_tier": held.assigned_tier},
                       {"assigned_agent": event.agent_id, "assigned_tier": event.agent_tier})


async def on_workaround(runtime: Runtime, uow: UnitOfWork,
                        d: Delivered[ProblemWorkaroundRecorded]) -> None:
    """A problem's workaround is knowledge: it becomes a proposed article."""
    event = d.event
    await create_article(runtime, uow.session, title=f"Workaround: {event.title}",
                         body=event.workaround, owner=event.by, status=PROPOSED)
