"""REST endpoints of outbound webhooks: subscriptions and the delivery log."""

from __future__ import annotations

import secrets
from typing import Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy import insert, select, update

from tierline_intake.desks.writeback import vault
from tierline_intake.http_errors import ERRORS, IdempotencyKey, key_reused
from tierline_intake.idempotency import KeyReused, run_once
from tierline_intake.models import webhook_deliveries, webhook_subscriptions
from tierline_intake.webhooks.schemas import (
    DeliveryOut,
    Kind,
    SubscriptionIn,
    SubscriptionOut,
)
from tierline_intake.webhooks.service import delivery_out, subscription_out
from tierline_shared.auth.deps import require
from tierline_shared.pagination import Limit, Offset, fetch_page, page, page_of
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

def missing_field(what: str, ident: UUID) -> HTTPException:
    return HTTPException(404, error_body("not_found", f"no {what} {ident}"))


@router.post("", status_code=201, response_model=SubscriptionOut, responses=ERRORS,
             dependencies=[require("admin")])
async def subscribe(runtime: RuntimeDep, actor: ActorDep, body: SubscriptionIn,
                    idempotency_key: IdempotencyKey = None) -> Any:
    """Subscribe a URL to event kinds. Each delivery is a signed POST (``X-Tierline-Signature:
    t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>``), retried with exponential backoff and
    dead after ``max_attempts``."""
    secret = body.secret or f"whsec_{secrets.token_hex(24)}"

    async def effect(session: Any) -> tuple[int, dict[str, Any]]:
        row = {"id": uuid4(), "url": str(body.url), "secret": secret, "events": body.events,
               "system": body.system, "active": True, "max_attempts": body.max_attempts,
               "backoff_s": body.backoff_s, "timeout_s": body.timeout_s,
               "created_at": runtime.clock.now(),
               "authorization": None if body.authorization is None
               else vault(runtime).seal(body.authorization)}
        await session.execute(insert(webhook_subscriptions).values(**row))
        return 201, subscription_out(row, with_secret=True)

    try:
        status, payload, replayed = await run_once(
            runtime, key=idempotency_key, actor=actor, scope="POST /v1/webhooks",
            payload=body.model_dump(mode="json"), effect=effect)
    except KeyReused:
        raise key_reused() from None
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(payload, status_code=status, headers=headers)


@router.get("", response_model=page_of(SubscriptionOut), responses={422: ERRORS[422]},
            dependencies=[require("admin")])
async def subscriptions(session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> Any:
    rows, total = await fetch_page(session, select(webhook_subscriptions).order_by(
        webhook_subscriptions.c.created_at, webhook_subscriptions.c.id), limit, offset)
    return page([subscription_out(dict(r._mapping)) for r in rows], total, limit, offset)


@router.delete("/{subscription_id}", response_model=SubscriptionOut,
               responses={404: ERRORS[404], 422: ERRORS[422]},
               dependencies=[require("admin")])
async def unsubscribe(subscription_id: UUID, runtime: RuntimeDep) -> Any:
    """Stop queueing new deliveries for it (its log stays)."""
    async with runtime.transaction() as uow:
        row = (await uow.session.execute(update(webhook_subscriptions).where(
            webhook_subscriptions.c.id == subscription_id).values(active=False)
            .returning(webhook_subscriptions))).first()
    if row is None:
        raise missing_field("subscription", subscription_id)
    return subscription_out(dict(row._mapping))


@router.get("/deliveries", response_model=page_of(DeliveryOut), responses={422: ERRORS[422]},
            dependencies=[require("admin")])
async def deliveries(session: SessionDep, subscription_id: UUID | None = None,
                     status: Literal["pending", "delivered", "dead"] | None = None,
                     kind: Kind | None = None, ticket_id: UUID | None = None,
                     limit: Limit = 100, offset: Offset = 0) -> Any:
    """The delivery log, newest first: every try with its status code, error and duration."""
    d = webhook_deliveries.c
    query = select(webhook_deliveries).order_by(d.created_at.desc(), d.id)
    for column, value in ((d.subscription_id, subscription_id), (d.status, status),
                          (d.kind, kind), (d.ticket_id, ticket_id)):
        if value is not None:
            query = query.where(column == value)
    rows, total = await fetch_page(session, query, limit, offset)
    return page([delivery_out(dict(r._mapping)) for r in rows], total, limit, offset)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut,
            responses={404: ERRORS[404], 422: ERRORS[422]},
            dependencies=[require("admin")])
async def delivery(delivery_id: UUID, session: SessionDep) -> Any:
    row = (await session.execute(select(webhook_deliveries).where(
        webhook_deliveries.c.id == delivery_id))).first()
    if row is None:
        raise missing_field("delivery", delivery_id)
    return delivery_out(dict(row._mapping))


@router.post("/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut,
             responses=ERRORS,
             dependencies=[require("admin")])
async def redeliver(delivery_id: UUID, runtime: RuntimeDep) -> Any:
    """Give a dead delivery a fresh set of tries (409 unless it is dead)."""
    async with runtime.transaction() as uow:
        session = uow.session
        row = (await session.execute(select(webhook_deliveries).where(
            webhook_deliveries.c.id == delivery_id).with_for_update())).first()
        if row is None:
            raise missing_field("delivery", delivery_id)
        if row.status != "dead":
            raise HTTPException(409, error_body("conflict", f"the delivery is {row.status}; "
                                                "only a dead one is redelivered",
                                                status=row.status))
        row = (await session.execute(update(webhook_deliveries).where(
            webhook_deliveries.c.id == delivery_id).values(
            status="pending", attempts=0, next_attempt_at=runtime.clock.now())
            .returning(webhook_deliveries))).first()
    assert row is not None
    return delivery_out(dict(row._mapping))
