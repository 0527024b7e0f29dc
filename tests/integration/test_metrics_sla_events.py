"""Metrics folds sla's events (warnings, breaches, escalations, major incidents, problems)
into its read model on a real PostgreSQL: applying an event twice changes nothing, and the
Prometheus counters and the summary report read what was stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import offline_runtime
from tierline_metrics import models
from tierline_metrics.app import SPEC
from tierline_metrics.exposition.collectors import register
from tierline_metrics.models import (
    escalations,
    major_incidents,
    problems,
    sla_events,
    ticket_facts,
)
from tierline_metrics.reports.summary_api import summary
from tierline_shared.audit import Actor
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    Event,
    MajorIncidentChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    MajorIncidentUpdateDue,
    ProblemIdentified,
    ProblemWorkaroundRecorded,
    SlaBreached,
    SlaClockStarted,
    SlaWarning,
    TicketEscalated,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.clock import FrozenClock
from tierline_shared.db import make_engine, make_sessionmaker
from tierline_shared.unit_of_work import transaction

pytestmark = [pytest.mark.db]

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = make_engine(database_url, pool_size=2)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def apply(sessions: Sessions, event: Event | Envelope) -> Envelope:
    """Run metrics' handler in one unit of work, as the consumer loop would but without its
    inbox; pass an envelope again to apply the same event twice."""
    envelope = (event if isinstance(event, Envelope)
                else Envelope.wrap(event, source="/test", time=NOW))
    async with transaction(sessions, outbox=models.outbox,
                           actor=Actor.system("metrics")) as uow:
        await SPEC.handlers(None).apply(uow, [Delivered(envelope)])
        assert uow.emitted == 0, "metrics publishes nothing"
    return envelope


Sample = Callable[..., Awaitable[float]]


@pytest.fixture
def counters(sessions: Sessions) -> Sample:
    """Read a sample after a refresh from the database (the database is shared by the
    session, so tests compare before and after, not absolute values)."""
    registry = CollectorRegistry()
    collectors = register(registry)

    async def sample(name: str, **labels: str) -> float:
        async with sessions() as session:
            await collectors.refresh(session)
        return registry.get_sample_value(name, labels) or 0.0

    return sample


async def row(sessions: Sessions, table: Any, **where: Any) -> Any:
    async with sessions() as session:
        query = select(table).where(*(table.c[k] == v for k, v in where.items()))
        return (await session.execute(query)).one()


async def rows(sessions: Sessions, table: Any, **where: Any) -> list[Any]:
    async with sessions() as session:
        query = select(table).where(*(table.c[k] == v for k, v in where.items()))
        return list((await session.execute(query)).all())


async def test_warnings_and_breaches_are_facts_once_each(sessions: Sessions,
                                                         counters: Sample) -> None:
    tid = uuid.uuid4()
    labels = {"clock": "resolution", "priority": "P1"}
    warnings = await counters("tierline_sla_warnings_total", **labels)
    breaches = await counters("tierline_sla_breaches_total", **labels)

    warning = await apply(sessions, SlaWarning(
        ticket_id=tid, clock="resolution", priority="P1", threshold_percent=75,
        due_at=NOW + timedelta(hours=1), target_seconds=14400, at=NOW))
    await apply(sessions, warning)  # redelivered
    breach = await apply(sessions, SlaBreached(
        ticket_id=tid, clock="resolution", priority="P1", due_at=NOW + timedelta(hours=1),
        target_seconds=14400, at=NOW + timedelta(hours=1)))
    await apply(sessions, breach)

    facts = sorted((r.kind, r.clock, r.priority, r.threshold_percent)
                   for r in await rows(sessions, sla_events, ticket_id=tid))
    assert facts == [("breach", "resolution", "P1", None), ("warning", "resolution", "P1", 75)]
    ticket = await row(sessions, ticket_facts, ticket_id=tid)
    assert ticket.resolution_breached and not ticket.first_response_breached
    assert not ticket.update_breached
    assert await counters("tierline_sla_warnings_total", **labels) == warnings + 1
    assert await counters("tierline_sla_breaches_total", **labels) == breaches + 1


async def test_the_update_clock_has_a_due_time_and_can_breach(sessions: Sessions) -> None:
    tid = uuid.uuid4()
    await apply(sessions, SlaClockStarted(
        ticket_id=tid, clock="update", priority="P2", started_at=NOW,
        due_at=NOW + timedelta(hours=2), target_seconds=7200))
    await apply(sessions, SlaBreached(
        ticket_id=tid, clock="update", priority="P2", due_at=NOW + timedelta(hours=2),
        target_seconds=7200, at=NOW + timedelta(hours=2)))
    ticket = await row(sessions, ticket_facts, ticket_id=tid)
    assert ticket.update_due_at == NOW + timedelta(hours=2)
    assert ticket.update_breached and not ticket.resolution_breached


def escalated(tid: uuid.UUID, kind: str, trigger: str, level: int = 1,
              to_tier: int | None = None) -> TicketEscalated:
    return TicketEscalated(
        ticket_id=tid, kind=kind, level=level, trigger=trigger, rule=f"{trigger}-rule",  # type: ignore[arg-type]
        reason=f"{trigger} says so", clock="resolution" if trigger == "time" else None,
        to_tier=to_tier, escalated_at=NOW)


async def test_escalations_are_recorded_and_counted_per_ticket(sessions: Sessions,
                                                               counters: Sample) -> None:
    tid = uuid.uuid4()
    time_labels = {"kind": "functional", "trigger": "time"}
    sentiment_labels = {"kind": "hierarchical", "trigger": "sentiment"}
    by_time = await counters("tierline_escalations_total", **time_labels)
    by_sentiment = await counters("tierline_escalations_total", **sentiment_labels)

    first = await apply(sessions, escalated(tid, "functional", "time", to_tier=2))
    await apply(sessions, first)  # redelivered
    await apply(sessions, escalated(tid, "hierarchical", "sentiment"))
    await apply(sessions, escalated(tid, "functional", "time", level=2, to_tier=3))

    recorded = sorted((r.kind, r.trigger, r.level, r.to_tier, r.clock)
                      for r in await rows(sessions, escalations, ticket_id=tid))
    assert recorded == [("functional", "time", 1, 2, "resolution"),
                        ("functional", "time", 2, 3, "resolution"),
                        ("hierarchical", "sentiment", 1, None, None)]
    ticket = await row(sessions, ticket_facts, ticket_id=tid)
    assert (ticket.escalations, ticket.functional_escalations) == (3, 2)
    assert await counters("tierline_escalations_total", **time_labels) == by_time + 2
    assert await counters("tierline_escalations_total", **sentiment_labels) == by_sentiment + 1


async def test_major_incident_lifecycle(sessions: Sessions, counters: Sample) -> None:
    mi, other = uuid.uuid4(), uuid.uuid4()
    children = [uuid.uuid4() for _ in range(3)]

    async def status(name: str) -> float:
        return await counters("tierline_major_incidents_open", status=name)

    total = await counters("tierline_major_incidents_total")
    declared, restored, resolved = (await status("declared"), await status("restored"),
                                    await status("resolved"))

    declaration = await apply(sessions, MajorIncidentDeclared(
        major_incident_id=mi, title="Mail is down", service="mail", trigger="rule",
        rule="outage", reason="5 incidents on mail in 10 minutes", declared_by="tierline-sla",
        ticket_ids=children[:2], declared_at=NOW))
    await apply(sessions, declaration)
    link = await apply(sessions, MajorIncidentTicketLinked(
        major_incident_id=mi, ticket_id=children[2], linked_at=NOW + timedelta(minutes=1)))
    await apply(sessions, link)
    assert (await row(sessions, major_incidents, id=mi)).ticket_count == 3
    assert await counters("tierline_major_incidents_total") == total + 1
    assert await status("declared") == declared + 1

    # A ticket moved to another major incident leaves the first one's count.
    await apply(sessions, MajorIncidentDeclared(
        major_incident_id=other, title="Mail is slow", service="mail-eu", trigger="api",
        reason="by hand", declared_by="duty-manager", ticket_ids=[children[2]],
        declared_at=NOW + timedelta(minutes=2)))
    assert (await row(sessions, major_incidents, id=mi)).ticket_count == 2
    assert (await row(sessions, major_incidents, id=other)).ticket_count == 1
    assert (await row(sessions, ticket_facts, ticket_id=children[2])).major_incident_id == other

    for sequence in (1, 2):
        reminder = await apply(sessions, MajorIncidentUpdateDue(
            major_incident_id=mi, sequence=sequence, last_update_at=NOW,
            due_at=NOW + timedelta(minutes=30 * sequence)))
    await apply(sessions, MajorIncidentUpdateDue(
        major_incident_id=mi, sequence=1, last_update_at=NOW, due_at=NOW))  # a late copy
    await apply(sessions, reminder)
    assert (await row(sessions, major_incidents, id=mi)).updates_due == 2

    def changed(status: str, change: str, minutes: int) -> MajorIncidentChanged:
        return MajorIncidentChanged(major_incident_id=mi, status=status, change=change,  # type: ignore[arg-type]
                                    by="im-1", changed_at=NOW + timedelta(minutes=minutes))

    await apply(sessions, changed("declared", "update_posted", 20))
    restoration = await apply(sessions, changed("restored", "restored", 45))
    assert await status("declared") == declared + 1  # the other one is still down
    assert await status("restored") == restored + 1
    await apply(sessions, changed("restored", "update_posted", 50))
    await apply(sessions, restoration)
    await apply(sessions, changed("resolved", "resolved", 90))
    assert await status("resolved") == resolved + 1
    await apply(sessions, changed("closed", "closed", 600))

    record = await row(sessions, major_incidents, id=mi)
    assert (record.title, record.service, record.trigger) == ("Mail is down", "mail", "rule")
    assert (record.declared_at, record.restored_at, record.resolved_at, record.closed_at) == (
        NOW, NOW + timedelta(minutes=45), NOW + timedelta(minutes=90),
        NOW + timedelta(minutes=600))
    assert (await status("declared"), await status("restored"), await status("resolved")) \
        == (declared + 1, restored, resolved)
    assert await counters("tierline_major_incidents_total") == total + 2


async def test_problems_and_their_workarounds(sessions: Sessions, counters: Sample) -> None:
    pid = uuid.uuid4()
    tickets = [uuid.uuid4() for _ in range(3)]
    total = await counters("tierline_problems_total")

    identified = await apply(sessions, ProblemIdentified(
        problem_id=pid, reason="3 incidents on vpn in 7 days", service="vpn",
        category="network", ticket_ids=[*tickets, tickets[0]], identified_at=NOW))
    await apply(sessions, identified)
    for hours in (1, 2):
        await apply(sessions, ProblemWorkaroundRecorded(
            problem_id=pid, title="Reconnect", workaround="Reconnect with the new profile",
            by="agent-7", recorded_at=NOW + timedelta(hours=hours)))

    problem = await row(sessions, problems, id=pid)
    assert (problem.reason, problem.service, problem.category, problem.ticket_count) == (
        "3 incidents on vpn in 7 days", "vpn", "network", 3)
    assert (problem.identified_at, problem.workaround_at) == (NOW, NOW + timedelta(hours=1))
    assert await counters("tierline_problems_total") == total + 1


async def test_summary_reports_escalations_breaches_and_major_incidents(
        database_url: str, sessions: Sessions) -> None:
    runtime = offline_runtime(SPEC, database_url, FrozenClock(NOW))
    await SPEC.on_start(runtime)  # the counters the summary reads
    try:
        before = await summary(runtime)
        tid = uuid.uuid4()
        await apply(sessions, escalated(tid, "functional", "complexity"))
        await apply(sessions, SlaBreached(
            ticket_id=tid, clock="first_response", priority="P4", due_at=NOW,
            target_seconds=60, at=NOW))
        await apply(sessions, MajorIncidentDeclared(
            major_incident_id=uuid.uuid4(), title="Printing", trigger="api", reason="by hand",
            declared_by="duty-manager", declared_at=NOW))
        after = await summary(runtime)
    finally:
        await runtime.engine.dispose()

    def count(report: dict[str, Any], section: str, **match: Any) -> int:
        return sum(item["count"] for item in report[section]
                   if all(item[k] == v for k, v in match.items()))

    assert count(after, "escalations", kind="functional", trigger="complexity") \
        == count(before, "escalations", kind="functional", trigger="complexity") + 1
    assert count(after, "breaches", priority="P4") == count(before, "breaches", priority="P4") + 1
    mi_before, mi_after = before["major_incidents"], after["major_incidents"]
    assert isinstance(mi_before, dict) and isinstance(mi_after, dict)
    assert mi_after == {"open": mi_before["open"] + 1, "total": mi_before["total"] + 1}
