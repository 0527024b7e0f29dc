"""Right to erasure in intake: find one person by requester id and/or email, anonymize every
row of theirs in one transaction, record the erasure and tell the other services, one
``TicketRequesterErased`` per ticket on the ticket's own topic (after its earlier events).

What goes and what stays, per table (see the README's "Right to erasure"):
tickets: the requester's id becomes the pseudonym, name and email go, title, description,
context and reasons lose the person's identifiers; counts, categories, priorities, statuses
and timestamps stay. audit_log: earlier entries of their tickets lose the person's
identifiers and words, and each ticket gets a ``requester_erased`` entry naming the key that
asked. ticket_history: the person's own entries (replies, survey comments)
lose their words, the rest their identifiers. customers: the record keeps its plan and
account under the pseudonym, without name or email. interactions and their events: the
customer's id, name and words go. idempotency_keys: stored responses are anonymized.
webhook_deliveries: payloads and logs of the person's tickets are anonymized. kb_articles
proposed from their tickets lose their identifiers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import String, cast, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.models import (
    REQUESTER_ID,
    audit_log,
    customers,
    erasures,
    history,
    idempotency_keys,
    interaction_events,
    interactions,
    kb_articles,
    tickets,
    webhook_deliveries,
)
from tierline_intake.tickets.audit import ENTITY
from tierline_shared import audit
from tierline_shared.audit import REDACTED
from tierline_shared.bus.events import TicketRequesterErased
from tierline_shared.privacy import OWN_WORDS, Eraser, identity_of, pseudonym, subject_digest
from tierline_shared.runtime import Runtime

STORES = ("tickets", "ticket_history", "audit_log", "customers", "interactions",
          "interaction_events", "idempotency_keys", "webhook_deliveries", "kb_articles")
# History kinds that are the customer speaking, whoever is named as the actor.
_CUSTOMER_KINDS = ("customer_replied", "csat_answered", "nps_answered")


class RequesterUnknown(Exception):
    """Nothing of this person is held, and they were never erased."""


def _email(value: str | None) -> str | None:
    return value.strip().lower() if value else None


async def _find(session: AsyncSession, requester_id: str | None,
                email: str | None) -> tuple[set[str], set[str], set[str], int]:
    """Every id, email and name intake holds for the person, following the links between
    the directory and tickets (an email names a customer id; a customer id names tickets)."""
    ids = {requester_id} if requester_id else set()
    emails = {email} if email else set()
    names: set[str] = set()
    matched = 0
    for _ in range(2):  # once more for the ids and emails the first round found
        folded = {e.lower() for e in emails}
        rows = (await session.execute(select(customers.c.id, customers.c.email,
                                              customers.c.name).where(or_(
            customers.c.id.in_(ids), func.lower(customers.c.email).in_(folded))))).all()
        matched += len(rows)
        for row in rows:
            ids.add(row.id)
            emails.update(e for e in (row.email,) if e)
            names.update(n for n in (row.name,) if n)
        rows = (await session.execute(select(tickets.c.requester).where(or_(
            REQUESTER_ID.in_(ids),
            func.lower(tickets.c.requester["email"].astext).in_(folded))))).all()
        matched += len(rows)
        for (requester,) in rows:
            ids.add(requester["id"])
            emails.update(e for e in (requester.get("email"),) if e)
            names.update(n for n in (requester.get("name"),) if n)
    if ids:
        rows = (await session.execute(select(interactions.c.customer_name).where(
            interactions.c.customer_id.in_(ids)))).all()
        names.update(n for (n,) in rows if n)
        matched += len(rows)
    return ids, emails, names, matched


async def _tickets(session: AsyncSession, runtime: Runtime, eraser: Eraser,
                   counts: dict[str, int], erasure_id: UUID, now: datetime) -> int:
    ids = eraser.identity.ids
    rows = (await session.execute(select(tickets).where(REQUESTER_ID.in_(ids))
                                  .order_by(tickets.c.created_at)
                                  .with_for_update())).all()
    for ticket in rows:
        eraser.take_touched()
        await _history(session, eraser, counts, [ticket.id])
        await session.execute(update(tickets).where(tickets.c.id == ticket.id).values(
            requester=eraser.requester(ticket.requester), title=eraser.text(ticket.title),
            description=eraser.text(ticket.description), context=eraser.json(ticket.context),
            reasons=eraser.json(ticket.reasons)))
        counts["tickets"] += 1
        await _audit_log(session, eraser, counts, ticket.id)
        await audit.record(runtime, session, audit_log, entity_type=ENTITY, entity_id=ticket.id,
                           action="requester_erased", changes={
                               "requester.id": {"before": REDACTED,
                                                "after": eraser.identity.pseudonym},
                               "erasure_id": {"before": None, "after": str(erasure_id)}})
        await _deliveries(session, eraser, counts, ticket.id)
        await _kb(session, eraser, counts, ticket.id, now)
        replacements = eraser.take_touched()
        # The other services find the id itself in their rows, even if nothing else changed.
        replacements.update({k: v for k, v in eraser.changes.items()
                             if v == eraser.identity.pseudonym})
        await runtime.emit(session, runtime.topics.for_type(ticket.ticket_type),
                           runtime.envelope(TicketRequesterErased(
                               ticket_id=ticket.id, erasure_id=erasure_id,
                               pseudonym=eraser.identity.pseudonym,
                               replacements=replacements, erased_at=now)))
    return len(rows)


async def _history(session: AsyncSession, eraser: Eraser, counts: dict[str, int],
                   ticket_ids: Iterable[UUID]) -> None:
    ids = eraser.identity.ids
    condition = history.c.ticket_id.in_(list(ticket_ids))
    rows = (await session.execute(select(history).where(condition)
                                  .order_by(history.c.id))).all()
    for row in rows:
        by_person = row.actor in ids or row.kind in _CUSTOMER_KINDS
        detail = eraser.entry(row.detail, by_person)
        actor = eraser.value(row.actor) if row.actor else row.actor
        if detail != row.detail or actor != row.actor:
            await session.execute(update(history).where(history.c.id == row.id).values(
                detail=detail, actor=actor))
            counts["ticket_history"] += 1


def _own_words_within(eraser: Eraser, value: Any) -> Any:
    """The person's own words wherever they sit in an audit entry's changes."""
    if isinstance(value, dict):
        return {k: eraser.own_words(v) if k in OWN_WORDS and isinstance(v, str)
                else _own_words_within(eraser, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_own_words_within(eraser, v) for v in value]
    return value


async def _audit_log(session: AsyncSession, eraser: Eraser, counts: dict[str, int],
                     ticket_id: UUID) -> None:
    """Earlier audit entries of the ticket: before and after values lose the person's
    identifiers (a title naming them, the requester's id and name), and what the customer
    said (a reply, a survey comment) goes, as in the history."""
    rows = (await session.execute(select(audit_log.c.id, audit_log.c.action,
                                         audit_log.c.changes).where(
        audit_log.c.entity_type == ENTITY, audit_log.c.entity_id == str(ticket_id)))).all()
    for row in rows:
        changes = row.changes
        if row.action in _CUSTOMER_KINDS:
            changes = _own_words_within(eraser, changes)
        changes = eraser.json(changes)
        if changes != row.changes:
            await session.execute(update(audit_log).where(audit_log.c.id == row.id)
                                  .values(changes=changes))
            counts["audit_log"] += 1


async def _deliveries(session: AsyncSession, eraser: Eraser, counts: dict[str, int],
                      ticket_id: UUID) -> None:
    rows = (await session.execute(select(
        webhook_deliveries.c.id, webhook_deliveries.c.payload, webhook_deliveries.c.log,
        webhook_deliveries.c.last_error).where(
        webhook_deliveries.c.ticket_id == ticket_id))).all()
    for row in rows:
        values = {"payload": eraser.json(row.payload), "log": eraser.json(row.log),
                  "last_error": eraser.value(row.last_error) if row.last_error else None}
        if values != {"payload": row.payload, "log": row.log, "last_error": row.last_error}:
            await session.execute(update(webhook_deliveries).where(
                webhook_deliveries.c.id == row.id).values(**values))
            counts["webhook_deliveries"] += 1


async def _kb(session: AsyncSession, eraser: Eraser, counts: dict[str, int],
              ticket_id: UUID, now: datetime) -> None:
    """Articles proposed from the person's tickets, anonymized; their ``updated_at`` moves,
    so every replica's KB index sees the change and refits (not only this process's)."""
    rows = (await session.execute(select(kb_articles.c.id, kb_articles.c.title,
                                         kb_articles.c.body).where(
        kb_articles.c.source_ticket_id == ticket_id))).all()
    for row in rows:
        title, body = eraser.text(row.title), eraser.text(row.body)
        if (title, body) != (row.title, row.body):
            await session.execute(update(kb_articles).where(kb_articles.c.id == row.id)
                                  .values(title=title, body=body, updated_at=now))
            counts["kb_articles"] += 1


async def _directory(session: AsyncSession, eraser: Eraser, counts: dict[str, int]) -> None:
    """The directory keeps the record (plan, account, products) under the pseudonym, without
    name or email. An id is a primary key: a second record of the person (or one already
    erased) gets a pseudonym of its own."""
    identity = eraser.identity
    rows = (await session.execute(select(customers.c.id).where(
        customers.c.id.in_(identity.ids)).order_by(customers.c.id))).all()
    for (customer_id,) in rows:
        new_id = identity.pseudonym
        if await session.scalar(select(customers.c.id).where(customers.c.id == new_id)):
            new_id = pseudonym(f"{identity.pseudonym}:{customer_id}")
        await session.execute(update(customers).where(customers.c.id == customer_id).values(
            id=new_id, name=None, email=None))
        counts["customers"] += 1


async def _interactions(session: AsyncSession, eraser: Eraser,
                        counts: dict[str, int]) -> None:
    ids = eraser.identity.ids
    rows = (await session.execute(select(interactions.c.id, interactions.c.about).where(
        interactions.c.customer_id.in_(ids)))).all()
    for row in rows:
        await session.execute(update(interactions).where(interactions.c.id == row.id).values(
            customer_id=eraser.identity.pseudonym, customer_name=None,
            about=eraser.own_words(row.about) if row.about else None))
        counts["interactions"] += 1
        events = (await session.execute(select(
            interaction_events.c.id, interaction_events.c.detail).where(
            interaction_events.c.interaction_id == row.id))).all()
        for event in events:
            by_customer = event.detail.get("author") == "customer" or \
                event.detail.get("kind") in ("contact_started", "csat")
            detail = eraser.entry(event.detail, by_customer)
            if detail != event.detail:
                await session.execute(update(interaction_events).where(
                    interaction_events.c.id == event.id).values(detail=detail))
                counts["interaction_events"] += 1


async def _idempotency(session: AsyncSession, eraser: Eraser,
                       counts: dict[str, int]) -> None:
    """Stored responses (a ticket's carries its requester) that mention the person."""
    identity = eraser.identity
    needles = [*identity.ids, *identity.emails, *identity.names]
    text = cast(idempotency_keys.c.response, String)
    rows = (await session.execute(select(
        idempotency_keys.c.key, idempotency_keys.c.scope, idempotency_keys.c.response).where(
        or_(*(text.icontains(n, autoescape=True) for n in needles))))).all()
    for row in rows:
        response = eraser.json(row.response)
        if response != row.response:
            await session.execute(update(idempotency_keys).where(
                idempotency_keys.c.key == row.key, idempotency_keys.c.scope == row.scope)
                .values(response=response))
            counts["idempotency_keys"] += 1


async def erase(runtime: Runtime, session: AsyncSession, *, requester_id: str | None,
                email: str | None, requested_by: str) -> dict[str, Any]:
    """Anonymize the person in the caller's transaction and record it. Raises
    ``RequesterUnknown`` when nothing of theirs is held and they were never erased."""
    email = _email(email)
    digests = [subject_digest(kind, value) for kind, value in
               (("id", requester_id), ("email", email)) if value]
    ids, emails, names, matched = await _find(session, requester_id, email)
    now = runtime.clock.now()
    erasure_id = uuid4()
    counts = dict.fromkeys(STORES, 0)
    earlier = (await session.execute(select(erasures.c.id, erasures.c.pseudonym).where(
        or_(*(erasures.c.subject_digests.contains([d]) for d in digests)))
        .order_by(erasures.c.requested_at).limit(1))).first()
    if not matched:
        if earlier is None:
            raise RequesterUnknown
        record = {"id": erasure_id, "requested_by": requested_by, "requested_at": now,
                  "pseudonym": earlier.pseudonym, "subject_digests": digests,
                  "counts": counts, "tickets_announced": 0, "repeat_of": earlier.id}
        await session.execute(insert(erasures).values(**record))
        return record
    subject = requester_id or (sorted(ids)[0] if ids else email) or ""
    # A repeat by any id or email the person had is recognised, not only the one asked.
    digests = sorted({*digests, *(subject_digest("id", i) for i in ids),
                      *(subject_digest("email", e) for e in emails)})
    eraser = Eraser(identity_of(ids, emails, names, subject))
    await _interactions(session, eraser, counts)
    announced = await _tickets(session, runtime, eraser, counts, erasure_id, now)
    # The person's entries on tickets that are not theirs (a comment on a colleague's).
    others = (await session.execute(select(history.c.ticket_id).where(
        history.c.actor.in_(ids)).distinct())).scalars().all()
    await _history(session, eraser, counts, others)
    await _directory(session, eraser, counts)
    await _idempotency(session, eraser, counts)
    record = {"id": erasure_id, "requested_by": requested_by, "requested_at": now,
              "pseudonym": eraser.identity.pseudonym, "subject_digests": digests,
              "counts": counts, "tickets_announced": announced,
              "repeat_of": earlier.id if earlier is not None else None}
    await session.execute(insert(erasures).values(**record))
    return record


async def get_erasure(session: AsyncSession, erasure_id: UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(erasures).where(erasures.c.id == erasure_id))).first()
    return dict(row._mapping) if row is not None else None
