"""Metrics' fold without I/O: how a run of events becomes changes per row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tierline_metrics.events.fold import Row, fold
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    Event,
    MajorIncidentChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    MajorIncidentUpdateDue,
    ProblemIdentified,
    TicketEscalated,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import Delivered

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def delivered(*events: Event) -> list[Delivered[Event]]:
    return [Delivered(Envelope.wrap(e, source="/t", time=T0)) for e in events]


def status(tid: uuid.UUID, before: str, after: str, minutes: int) -> TicketStatusChanged:
    return TicketStatusChanged(ticket_id=tid, ticket_type="incident", from_status=before,
                               to_status=after, priority="P3", category="network",
                               channel="chat", changed_at=T0 + timedelta(minutes=minutes))


def test_row_ops_compose_as_the_statements_merge() -> None:
    row = Row()
    row.set(status="new")
    row.set(status="resolved")
    row.first("first_response_at", 1)
    row.first("first_response_at", 2)
    row.max("updates_due", 3)
    row.max("updates_due", 2)
    row.add("reopen_count", 1)
    row.add("reopen_count", 1)
    assert row.changes == {"status": ("set", "resolved"), "first_response_at": ("first", 1),
                           "updates_due": ("max", 3), "reopen_count": ("add", 2)}
    assert row.shape() == (("first_response_at", "first"), ("reopen_count", "add"),
                           ("status", "set"), ("updates_due", "max"))


def test_a_tickets_life_in_one_run() -> None:
    tid = uuid.uuid4()
    out = fold(delivered(status(tid, "new", "acknowledged", 1),
                         status(tid, "acknowledged", "resolved", 5),
                         status(tid, "resolved", "reopened", 9),
                         status(tid, "reopened", "resolved", 12),
                         status(tid, "resolved", "reopened", 15)))
    changes = out.facts[tid].changes
    assert changes["status"] == ("set", "reopened")
    assert changes["first_response_at"] == ("first", T0 + timedelta(minutes=1))
    assert changes["resolved_at"] == ("set", T0 + timedelta(minutes=12))
    assert changes["reopen_count"] == ("add", 2)
    assert [row[2] for row in out.log] == ["tierline.ticket.status_changed.v1"] * 5
    assert out.applied == 5


def test_major_incidents_link_count_and_keep_their_first_milestones() -> None:
    mi, other = uuid.uuid4(), uuid.uuid4()
    a, b = uuid.uuid4(), uuid.uuid4()
    out = fold(delivered(
        MajorIncidentDeclared(major_incident_id=mi, title="vpn down", trigger="rule",
                              reason="many users", declared_by="sla", ticket_ids=[a],
                              declared_at=T0),
        MajorIncidentTicketLinked(major_incident_id=other, ticket_id=a, linked_at=T0),
        MajorIncidentTicketLinked(major_incident_id=mi, ticket_id=b, linked_at=T0),
        MajorIncidentUpdateDue(major_incident_id=mi, sequence=2, last_update_at=T0,
                               due_at=T0),
        MajorIncidentUpdateDue(major_incident_id=mi, sequence=1, last_update_at=T0,
                               due_at=T0),
        MajorIncidentChanged(major_incident_id=mi, status="restored", change="restored",
                             by="im", changed_at=T0 + timedelta(minutes=5)),
        MajorIncidentChanged(major_incident_id=mi, status="restored", change="restored",
                             by="im", changed_at=T0 + timedelta(minutes=9)),
        MajorIncidentChanged(major_incident_id=mi, status="restored", change="update_posted",
                             by="im", changed_at=T0 + timedelta(minutes=10))))
    assert out.linked == {a: other, b: mi}
    assert out.incidents_linked == {mi, other}
    assert out.facts[a].changes == {"major_incident_id": ("set", other)}
    incident = out.major_incidents[mi].changes
    assert incident["updates_due"] == ("max", 2)
    assert incident["restored_at"] == ("first", T0 + timedelta(minutes=5))
    assert out.log == []  # nothing of a major incident is a ticket's KPI event


def test_escalations_and_problems() -> None:
    tid, problem = uuid.uuid4(), uuid.uuid4()
    escalated = TicketEscalated(ticket_id=tid, kind="functional", level=1, trigger="time",
                                rule="r", reason="slow", escalated_at=T0)
    out = fold(delivered(escalated, ProblemIdentified(
        problem_id=problem, reason="recurring", ticket_ids=[tid, tid, uuid.uuid4()],
        identified_at=T0)))
    assert out.escalated == {tid} and out.facts[tid].changes == {}
    assert out.escalations[0]["kind"] == "functional"
    assert out.problems[problem].changes["ticket_count"] == ("set", 2)
    assert [row[2] for row in out.log] == ["tierline.ticket.escalated.v1"]
