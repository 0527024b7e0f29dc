"""Voice of the customer, run by metrics on a timer: test yesterday and today (so far)
against the trailing baseline, store each new signal once and publish it in the same
transaction; ``GET /v1/reports/voc`` lists them."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.context import metrics_context
from tierline_metrics.events.writer import add_totals
from tierline_metrics.kpi.voc import Contact, Signal, detect
from tierline_metrics.models import ticket_log, voc_signals
from tierline_metrics.reports.api import check_window, csv_response, to_csv
from tierline_shared.auth.deps import require
from tierline_shared.bus.events import TicketCreated, TicketEscalated, VoiceOfCustomerSignal
from tierline_shared.runtime import Runtime
from tierline_shared.web import SessionDep

router = APIRouter(prefix="/v1", tags=["reports"])


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


async def contacts(session: AsyncSession, first: date, last: date) -> list[Contact]:
    """Contacts created, and escalations raised, from ``first`` to ``last`` (UTC days)."""
    log = ticket_log.c
    lo, hi = _midnight(first), _midnight(last + timedelta(days=1))
    rows = (await session.execute(select(log.ticket_id, log.event_type, log.at, log.body).where(
        log.event_type.in_([TicketCreated.event_type, TicketEscalated.event_type]),
        log.at >= lo, log.at < hi))).all()
    escalated = [(tid, at) for tid, kind, at, _ in rows if kind == TicketEscalated.event_type]
    created = {tid: body for tid, kind, _, body in rows if kind == TicketCreated.event_type}
    missing = {tid for tid, _ in escalated} - set(created)
    if missing:  # escalations of tickets created before the window
        created |= {tid: body for tid, body in (await session.execute(
            select(log.ticket_id, log.body).where(log.ticket_id.in_(missing),
                                                  log.event_type == TicketCreated.event_type)))}
    out = []
    for body in created.values():
        day = datetime.fromisoformat(body["created_at"]).astimezone(UTC).date()
        if first <= day <= last and not body.get("deflected"):
            out.append(_contact(body, day))
    for tid, at in escalated:
        if tid in created:
            out.append(_contact(created[tid], at.astimezone(UTC).date(), escalated=True))
    return out


def _contact(body: dict[str, Any], day: date, escalated: bool = False) -> Contact:
    return Contact(day, body["category"], body.get("subcategory"),
                   body.get("service") or body.get("configuration_item"), body.get("title", ""),
                   escalated)


async def check(runtime: Runtime) -> list[Signal]:
    """Detect and publish the signals of yesterday and today; returns the new ones."""
    settings = metrics_context(runtime).policy.voice_of_customer
    today = runtime.clock.now().astimezone(UTC).date()
    new: list[Signal] = []
    async with runtime.transaction() as uow:
        session = uow.session
        history = await contacts(session, today - timedelta(days=settings.baseline_days + 1),
                                 today)
        for day in (today - timedelta(days=1), today):
            for signal in detect(history, day, settings.baseline_days, settings.alpha,
                                 settings.min_count):
                signal_id = uuid.uuid4()
                stored = await session.scalar(pg_insert(voc_signals).values(
                    id=signal_id, kind=signal.kind, dimension=signal.dimension, key=signal.key,
                    day=signal.day, observed=signal.observed, expected=signal.expected,
                    p_value=signal.p_value, detected_at=runtime.clock.now(),
                ).on_conflict_do_nothing().returning(voc_signals.c.id))
                if stored is None:
                    continue
                await add_totals(session, Counter({("voc_signals", signal.kind, ""): 1}))
                event = VoiceOfCustomerSignal(
                    signal_id=signal_id, kind=signal.kind, dimension=signal.dimension,
                    key=signal.key, day=signal.day, observed=signal.observed,
                    expected=signal.expected, p_value=signal.p_value,
                    baseline_days=settings.baseline_days, detected_at=runtime.clock.now())
                await runtime.emit(session, runtime.topics.metrics, runtime.envelope(event))
                new.append(signal)
    return new


@router.get("/reports/voc", responses={422: {"description": "Invalid window"}},
            dependencies=[require("reports:read")])
async def get_voc(session: SessionDep,
                  start: Annotated[date, Query(alias="from", description="first day")],
                  end: Annotated[date, Query(alias="to", description="day after the last")],
                  format: Annotated[Literal["json", "csv"], Query()] = "json") -> Any:
    """The voice-of-the-customer signals of the days [from, to), oldest first."""
    check_window(_midnight(start), _midnight(end))
    v = voc_signals.c
    rows = [{"day": r.day.isoformat(), "kind": r.kind, "dimension": r.dimension, "key": r.key,
             "observed": r.observed, "expected": r.expected, "p_value": r.p_value,
             "detected_at": r.detected_at.isoformat()}
            for r in (await session.execute(
                select(voc_signals).where(v.day >= start, v.day < end)
                .order_by(v.day, v.kind, v.dimension, v.key))).all()]
    if format == "csv":
        return csv_response(to_csv(rows), "voc")
    return {"signals": rows}
