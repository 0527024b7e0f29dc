"""The knowledge base's storage and its uses: suggestions for every new ticket and chat,
tickets deflected by an article, proposals from Tier 2 resolutions and from problem
workarounds, stale articles."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.context import intake_context
from tierline_intake.kb.domain import STALE_AFTER, Article, KbIndex
from tierline_intake.models import interactions, kb_articles, tickets
from tierline_intake.tickets.audit import audit_added
from tierline_intake.tickets.recorder import record_history
from tierline_intake.tickets.service import (
    InvalidInput,
)
from tierline_shared.bus.events import ProblemWorkaroundRecorded
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


REFRESH_S = 5.0  # how stale another replica's article change may be in this one's index


class KbIndexCache:
    """The published articles' index, held by the process and refreshed off the request path:
    at start, every ``REFRESH_S`` (a periodic job, one statement when nothing changed), and
    right after this process changes an article (the changing request waits for it, so its
    caller's next request finds the article). The refit runs in a worker thread, never on the
    event loop; requests read the index in place and send no statement for it."""

    def __init__(self) -> None:
        self.index = KbIndex([])
        self._version: tuple[Any, ...] | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, runtime: Runtime, *, force: bool = False) -> None:
        """Refit when the published articles changed (their count, latest update or the sum
        of their update times, which moves even when a change is stamped earlier than the
        latest one, e.g. by another replica's clock), or always with ``force``."""
        async with self._lock:
            async with runtime.sessions() as session:
                version = tuple((await session.execute(select(
                    func.count(), func.max(kb_articles.c.updated_at),
                    func.sum(func.extract("epoch", kb_articles.c.updated_at))).where(
                    kb_articles.c.status == PUBLISHED))).one())
                if version == self._version and not force:
                    return
                rows = (await session.execute(select(
                    kb_articles.c.id, kb_articles.c.title, kb_articles.c.body,
                    kb_articles.c.category).where(kb_articles.c.status == PUBLISHED)
                    .order_by(kb_articles.c.created_at))).all()
            articles = [Article(r.id, r.title, r.body, r.category) for r in rows]
            self.index = await asyncio.to_thread(KbIndex, articles)
            self._version = version


def kb_index(runtime: Runtime) -> KbIndexCache:
    return intake_context(runtime).kb_index


async def refresh_kb_index(runtime: Runtime) -> None:
    await kb_index(runtime).refresh(runtime)


async def suggest(runtime: Runtime, session: AsyncSession, text: str) -> list[dict[str, Any]]:
    """The top 3 published articles for these words, with their scores."""
    return [s.as_dict() for s in kb_index(runtime).index.search(text)]


@dataclass
class RuntimeKnowledgeBase:
    """The knowledge base as the ticket code sees it (``context.KnowledgeBase``)."""

    runtime: Runtime

    async def suggest(self, session: AsyncSession, text: str) -> list[dict[str, Any]]:
        return await suggest(self.runtime, session, text)

    async def propose(self, session: AsyncSession, row: dict[str, Any], actor: str | None,
                      notes: str) -> dict[str, Any]:
        return await propose_from_resolution(self.runtime, session, row, actor, notes)

    async def published_article(self, session: AsyncSession,
                                article_id: UUID) -> dict[str, Any] | None:
        article = await get_article(session, article_id)
        return article if article is not None and article["status"] == PUBLISHED else None


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
    await record_history(runtime, session, row["id"], "kb_article_proposed", actor,
                         {"article_id": str(article["id"]), "tier": tier})
    await audit_added(runtime, session, row["id"], "kb_article_proposed", "proposed_article",
                      {"article_id": article["id"], "tier": tier})
    return article


async def on_workaround(runtime: Runtime, uow: UnitOfWork,
                        d: Delivered[ProblemWorkaroundRecorded]) -> None:
    """A problem's workaround is knowledge: it becomes a proposed article."""
    event = d.event
    await create_article(runtime, uow.session, title=f"Workaround: {event.title}",
                         body=event.workaround, owner=event.by, status=PROPOSED)
