"""Outbound webhooks: deliveries queued in the same transaction as the event that causes
them, sent by a periodic job that never blocks the consumer or the API.

Each tick claims the due deliveries (``FOR UPDATE SKIP LOCKED``, then a lease so another
replica leaves them alone while they are in flight) and sends each in its own task, so a
receiver that hangs until its timeout delays nobody else. A failed try is retried with
exponential backoff; after the subscription's last try the delivery is dead (the dead
letter), kept in the log and re-sendable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.context import intake_context
from tierline_intake.desks.writeback import vault
from tierline_intake.models import tickets, webhook_deliveries, webhook_subscriptions
from tierline_intake.webhooks.domain import (
    KIND_OF,
    SIGNATURE_HEADER,
    after_attempt,
    retry_at,
    signature,
)
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.handlers import Delivered, E, EachHandler
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

INTERVAL_S = 0.2
MAX_IN_FLIGHT = 100
LEASE = timedelta(seconds=30)


async def enqueue(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> int:
    """Queue one delivery per active subscription to this event's kind (once per event)."""
    kind = KIND_OF.get(envelope.type)
    if kind is None:
        return 0
    subscriptions = (await session.execute(select(webhook_subscriptions).where(
        webhook_subscriptions.c.active.is_(True),
        webhook_subscriptions.c.events.contains([kind])))).all()
    if not subscriptions:
        return 0
    event = envelope.event
    ticket_id: UUID | None = getattr(event, "ticket_id", None)
    ticket = None
    if ticket_id is not None:
        ticket = (await session.execute(select(
            tickets.c.id, tickets.c.external_system, tickets.c.external_id).where(
            tickets.c.id == ticket_id))).first()
    now = runtime.clock.now()
    queued = 0
    for sub in subscriptions:
        if sub.system is not None and ticket is not None and ticket.external_system != sub.system:
            continue
        delivery_id = uuid4()
        payload = {
            "delivery_id": str(delivery_id), "event_id": str(envelope.id), "kind": kind,
            "event_type": envelope.type, "occurred_at": envelope.time.isoformat(),
            "ticket": ({"id": str(ticket.id), "external_system": ticket.external_system,
                        "external_id": ticket.external_id} if ticket is not None else None),
            "data": event.model_dump(mode="json"),
        }
        inserted = await session.scalar(pg_insert(webhook_deliveries).values(
            id=delivery_id, subscription_id=sub.id, event_id=envelope.id, kind=kind,
            event_type=envelope.type, ticket_id=ticket_id, payload=payload, status="pending",
            attempts=0, next_attempt_at=now, log=[], created_at=now,
        ).on_conflict_do_nothing().returning(webhook_deliveries.c.id))
        queued += inserted is not None
    return queued


@dataclass
class RuntimeWebhookQueue:
    """The webhook queue as the ticket code sees it (``context.WebhookQueue``)."""

    runtime: Runtime

    async def enqueue(self, session: AsyncSession, envelope: Envelope) -> int:
        return await enqueue(self.runtime, session, envelope)


def notifying(runtime: Runtime, handler: EachHandler[E] | None = None) -> EachHandler[E]:
    """A consumer handler that also queues the event's webhook deliveries."""
    async def handle(uow: UnitOfWork, d: Delivered[E]) -> None:
        if handler is not None:
            await handler(uow, d)
        await enqueue(runtime, uow.session, d.envelope)

    return handle


async def _claim(runtime: Runtime, limit: int) -> list[dict[str, Any]]:
    now = runtime.clock.now()
    async with runtime.transaction() as uow:
        session = uow.session
        rows = (await session.execute(
            select(webhook_deliveries, webhook_subscriptions.c.url,
                   webhook_subscriptions.c.secret, webhook_subscriptions.c.max_attempts,
                   webhook_subscriptions.c.backoff_s, webhook_subscriptions.c.timeout_s,
                   webhook_subscriptions.c.authorization)
            .join(webhook_subscriptions,
                  webhook_subscriptions.c.id == webhook_deliveries.c.subscription_id)
            .where(webhook_deliveries.c.status == "pending",
                   webhook_deliveries.c.next_attempt_at <= now)
            .order_by(webhook_deliveries.c.next_attempt_at).limit(limit)
            .with_for_update(of=webhook_deliveries, skip_locked=True))).all()
        if rows:
            await session.execute(update(webhook_deliveries).where(
                webhook_deliveries.c.id.in_([r.id for r in rows])).values(
                next_attempt_at=now + LEASE))
    return [dict(r._mapping) for r in rows]


async def _send(runtime: Runtime, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
    attempt = row["attempts"] + 1
    body = json.dumps(row["payload"], separators=(",", ":"), sort_keys=True).encode()
    sent_at = runtime.clock.now()
    headers = {"Content-Type": "application/json",
               SIGNATURE_HEADER: signature(row["secret"], int(sent_at.timestamp()), body),
               "X-Tierline-Delivery": str(row["id"]), "X-Tierline-Event": row["kind"],
               "X-Tierline-Attempt": str(attempt)}
    if row["authorization"] is not None:
        headers["Authorization"] = vault(runtime).open(row["authorization"])
    started = time.perf_counter()
    code: int | None = None
    error: str | None = None
    try:
        response = await client.post(row["url"], content=body, headers=headers,
                                     timeout=row["timeout_s"])
        code = response.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code}"
    except httpx.TimeoutException:
        error = f"timed out after {row['timeout_s']:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    status = after_attempt(attempt, row["max_attempts"], error is None)
    now = runtime.clock.now()
    entry = {"attempt": attempt, "at": sent_at.isoformat(), "status_code": code,
             "error": error, "duration_ms": round((time.perf_counter() - started) * 1000, 1)}
    values: dict[str, Any] = {
        "status": status, "attempts": attempt, "last_status_code": code, "last_error": error,
        "log": webhook_deliveries.c.log.op("||")(literal([entry], JSONB)),
        "next_attempt_at": retry_at(attempt, row["backoff_s"], now) if status == "pending"
        else now}
    if status == "delivered":
        values["delivered_at"] = now
    async with runtime.transaction() as uow:
        await uow.session.execute(update(webhook_deliveries).where(
            webhook_deliveries.c.id == row["id"]).values(**values))
    intake_context(runtime).webhook_outcomes.labels(OUTCOMES[status]).inc()
    if status == "dead":
        log.warning("webhook delivery dead-lettered", extra={
            "delivery_id": str(row["id"]), "url": row["url"], "error": error,
            "attempts": attempt})


# One per attempt: delivered (2xx), retry (failed, another attempt is scheduled) or dead
# (failed its last attempt: the desk never got it).
OUTCOMES = {"delivered": "delivered", "pending": "retry", "dead": "dead"}


def delivery_counter(registry: CollectorRegistry) -> Counter:
    return Counter("tierline_webhook_deliveries", "Webhook delivery attempts by outcome: "
                   "delivered, retry (failed, will be retried) or dead (failed for good).",
                   ["outcome"], registry=registry)


async def deliver_due(runtime: Runtime) -> int:
    """Start sending what is due; returns how many sends were started."""
    ctx = intake_context(runtime)
    in_flight = ctx.webhook_sends
    room = MAX_IN_FLIGHT - len(in_flight)
    if room <= 0:
        return 0
    rows = await _claim(runtime, room)
    if not rows:
        return 0
    if ctx.webhook_client is None:
        ctx.webhook_client = httpx.AsyncClient(follow_redirects=False)
    client = ctx.webhook_client
    for row in rows:
        task = asyncio.create_task(_send(runtime, client, row), name=f"webhook-{row['id']}")
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    return len(rows)


def subscription_out(row: dict[str, Any], with_secret: bool = False) -> dict[str, Any]:
    out = {k: row[k] for k in ("url", "events", "system", "active", "max_attempts",
                               "backoff_s", "timeout_s")}
    out.update(id=str(row["id"]), created_at=row["created_at"].isoformat(),
               authorization_set=row.get("authorization") is not None)
    if with_secret:
        out["secret"] = row["secret"]
    return out


def delivery_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("kind", "event_type", "status", "attempts", "last_status_code",
                               "last_error", "log", "payload")}
    for key in ("id", "subscription_id", "event_id", "ticket_id"):
        out[key] = str(row[key]) if row[key] is not None else None
    for key in ("next_attempt_at", "created_at", "delivered_at"):
        out[key] = row[key].isoformat() if row[key] is not None else None
    return out
