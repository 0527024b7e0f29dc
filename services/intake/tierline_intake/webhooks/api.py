"""REST endpoints of outbound webhooks: subscriptions and the delivery log."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import insert, select, update

from tierline_intake.desks.writeback import vault
from tierline_intake.http_errors import ERRORS, IdempotencyKey, key_reused
from tierline_intake.idempotency import KeyReused, run_once
from tierline_intake.models import webhook_deliveries, webhook_subscriptions
from tierline_intake.webhooks.domain import KINDS
from tierline_intake.webhooks.service import delivery_out, subscription_out
from tierline_shared.auth.deps import require
from tierline_shared.pagination import Limit, Offset, fetch_page, page, page_of
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Kind = Literal["assignment", "status", "sla_warning", "sla_breach", "escalation",
               "major_incident", "survey_requested"]
assert set(Kind.__args__) == set(KINDS)  # type: ignore[attr-defined]

SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "url": "https://acme.service-now.com/api/x_acme/tierline/events",
    "events": ["assignment", "status", "sla_breach"], "system": "servicenow",
    "max_attempts": 6, "backoff_s": 10, "timeout_s": 5}
SUBSCRIPTION_OUT_EXAMPLE: dict[str, Any] = {
    **SUBSCRIPTION_EXAMPLE, "id": "3e1f0c2a-7b5d-4e6f-8a9b-0c1d2e3f4a5b", "active": True,
    "created_at": "2026-11-24T09:00:00Z", "secret": "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0"}
DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
    "subscription_id": SUBSCRIPTION_OUT_EXAMPLE["id"],
    "event_id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "kind": "status",
    "event_type": "tierline.ticket.status_changed.v1",
    "ticket_id": "0b8e1c2a-4f5d-4c1e-9a7b-2d3c4e5f6a7b", "status": "delivered", "attempts": 2,
    "last_status_code": 200, "last_error": None,
    "log": [{"attempt": 1, "at": "2026-11-24T09:05:00Z", "status_code": 503,
             "error": "HTTP 503", "duration_ms": 41.2},
            {"attempt": 2, "at": "2026-11-24T09:05:10Z", "status_code": 200, "error": None,
             "duration_ms": 38.0}],
    "payload": {"kind": "status", "event_type": "tierline.ticket.status_changed.v1"},
    "next_attempt_at": "2026-11-24T09:05:10Z", "created_at": "2026-11-24T09:05:00Z",
    "delivered_at": "2026-11-24T09:05:10Z"}


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [SUBSCRIPTION_EXAMPLE]})
    url: AnyHttpUrl
    events: list[Kind] = Field(min_length=1, max_length=len(KINDS))
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] | None = Field(
        default=None, description="the HMAC-SHA256 key; generated (and shown once) if absent")
    system: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = Field(
        default=None, description="only events about tickets from this external system "
        "(servicenow, jira, zendesk); events without a ticket still go")
    authorization: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = \
        Field(default=None, description="sent as the Authorization header of each delivery "
              "(e.g. a survey tool's API token); stored sealed, never shown again")
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff_s: float = Field(default=10.0, ge=0.01, le=3600,
                             description="wait before the second try; doubles each time")
    timeout_s: float = Field(default=5.0, gt=0, le=30)


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SUBSCRIPTION_OUT_EXAMPLE]})
    id: str
    url: str
    events: list[str]
    system: str | None
    active: bool
    max_attempts: int
    backoff_s: float
    timeout_s: float
    created_at: str
    authorization_set: bool = False
    secret: str | None = Field(default=None, description="only in the answer that created it")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DELIVERY_EXAMPLE]})
    id: str
    subscription_id: str
    event_id: str
    kind: str
    event_type: str
    ticket_id: str | None
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    log: list[dict[str, Any]]
    payload: dict[str, Any]
    next_attempt_at: str
    created_at: str
    delivered_at: str | None


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
