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


def test_folds_of_a_stream_split_by_key_merge_into_the_fold_of_the_whole() -> None:
    """The rebuild's workers each fold the partitions they read; merged, their folds are the
    fold of the whole stream (a ticket's events share a key, so one worker sees them all;
    major incidents link tickets from another worker's partitions)."""
    from tests.metrics_stream import envelopes, stream
    from tierline_metrics.events.fold import Fold, merge

    sent = [Delivered(e, "t", e.body()) for e in envelopes(stream(200, seed=4))]
    whole = fold(sent)
    for workers in (2, 3):
        parts = [fold([d for d in sent if d.envelope.key[-1] % workers == n])
                 for n in range(workers)]
        merged = Fold()
        for part in parts:
            merge(merged, part)
        assert {k: r.changes for k, r in merged.facts.items()} == \
            {k: r.changes for k, r in whole.facts.items()}
        assert {k: r.changes for k, r in merged.major_incidents.items()} == \
            {k: r.changes for k, r in whole.major_incidents.items()}
        assert {k: r.changes for k, r in merged.problems.items()} == \
            {k: r.changes for k, r in whole.problems.items()}
        for name in ("log", "sla_events", "escalations", "presence"):
            assert sorted(map(repr, getattr(merged, name))) == \
                sorted(map(repr, getattr(whole, name))), name
        assert (merged.escalated, merged.linked, merged.incidents_linked, merged.applied) == \
            (whole.escalated, whole.linked, whole.incidents_linked, whole.applied)
    assert whole.major_incidents and whole.linked and whole.escalated


def test_merge_composes_each_operation_of_a_row_both_parts_changed() -> None:
    from tierline_metrics.events.fold import Fold, merge

    tid = uuid.uuid4()
    a, b = Fold(), Fold()
    a.ticket(tid).set(status="new")
    a.ticket(tid).first("first_response_at", 1)
    a.ticket(tid).max("updates_due", 3)
    a.ticket(tid).add("reopen_count", 2)
    b.ticket(tid).set(status="closed", major_incident_id="m")
    b.ticket(tid).first("first_response_at", 2)
    b.ticket(tid).max("updates_due", 5)
    b.ticket(tid).add("reopen_count", 1)
    merge(a, b)
    assert a.facts[tid].changes == {
        "status": ("set", "closed"), "major_incident_id": ("set", "m"),
        "first_response_at": ("first", 1), "updates_due": ("max", 5),
        "reopen_count": ("add", 3)}
