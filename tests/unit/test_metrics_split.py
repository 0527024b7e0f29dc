"""The rebuild's split replay without I/O: which partitions each worker reads, and the binary
``COPY`` rows they stream (read back by PostgreSQL in tests/integration/test_metrics_rebuild.py)."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tierline_metrics.events import pgcopy
from tierline_metrics.events.split import default_workers, plan


def test_workers_read_every_partition_number_once_round_robin() -> None:
    assert plan({"a": 3, "b": 3}, 2) == [{0, 2}, {1}]
    assert plan({"a": 3, "b": 3}, 3) == [{0}, {1}, {2}]
    assert plan({"a": 4}, 8) == [{0}, {1}, {2}, {3}]  # no more workers than partitions


def test_no_split_for_one_worker_one_partition_or_uneven_topics() -> None:
    assert plan({"a": 3}, 1) is None
    assert plan({"a": 1, "b": 1}, 4) is None
    # A ticket's events share a partition number only when the counts are equal.
    assert plan({"a": 3, "b": 6}, 2) is None


def test_default_workers_one_per_partition_up_to_two_per_core() -> None:
    assert default_workers(2, 3) == 3
    assert default_workers(2, 12) == 4
    assert default_workers(None, 3) == 2
    assert default_workers(8, 1) == 1


def test_timestamptz_counts_microseconds_from_2000_in_utc() -> None:
    assert pgcopy.timestamptz(datetime(2000, 1, 1, tzinfo=UTC)) == 0
    assert pgcopy.timestamptz(datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 1
    assert pgcopy.timestamptz(datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1
    east = timezone(timedelta(hours=2))
    assert pgcopy.timestamptz(datetime(2000, 1, 1, 2, tzinfo=east)) == 0
    with pytest.raises(ValueError, match="no time zone"):
        pgcopy.timestamptz(datetime(2026, 1, 1))


def test_an_inbox_row_is_three_length_prefixed_fields() -> None:
    event_id = uuid.uuid4()
    row = pgcopy.inbox_row(event_id, "tierline.ticket.created.v1", "t.é")
    assert row == (struct.pack(">hi", 3, 16) + event_id.bytes
                   + struct.pack(">i", 26) + b"tierline.ticket.created.v1"
                   + struct.pack(">i", 4) + "t.é".encode())


def test_workers_facts_rows_combined_are_the_rows_and_totals_of_the_whole_fold() -> None:
    """Each worker makes its own tickets' facts rows; combined, with major incidents'
    links set whichever worker read them, they are the one-process rows and totals, a
    ticket known only from a link included."""
    from collections import Counter

    from tests.metrics_stream import envelopes, stream
    from tierline_metrics.events.bulk import count_escalations, facts_rows
    from tierline_metrics.events.fold import fold
    from tierline_metrics.events.split import Part, combine, finish
    from tierline_shared.bus.envelope import Envelope
    from tierline_shared.bus.events import MajorIncidentTicketLinked
    from tierline_shared.bus.handlers import Delivered

    sent = envelopes(stream(200, seed=8))
    incident = next(e.event.major_incident_id for e in sent  # type: ignore[attr-defined]
                    if type(e.event).__name__ == "MajorIncidentDeclared")
    stranger = uuid.uuid4()  # a ticket the replay knows only by this link
    sent.append(Envelope.wrap(MajorIncidentTicketLinked(
        major_incident_id=incident, ticket_id=stranger, linked_at=sent[-1].time),
        source="/t", time=sent[-1].time))
    delivered = [Delivered(e, "t", e.body()) for e in sent]

    whole = fold(delivered)
    count_escalations(whole)
    expected: Counter[object] = Counter()
    rows = facts_rows(whole.facts, expected)
    for workers in (2, 3):
        parts = [finish(Part(fold=fold([d for d in delivered
                                        if d.envelope.key[-1] % workers == n])))
                 for n in range(workers)]
        combined = combine(parts)
        assert sorted(map(repr, combined.facts)) == sorted(map(repr, rows))
        assert combined.totals == expected
    assert any(row[0] == stranger for row in rows)
    assert sum(1 for row in rows if incident in row) > 1


def test_the_rebuild_command_takes_one_worker_or_more(capsys: pytest.CaptureFixture[str]) -> None:
    from tierline_shared.cli import main

    for bad in ("0", "-2", "two"):
        with pytest.raises(SystemExit) as exit_:
            main(["metrics", "rebuild", "--workers", bad])
        assert exit_.value.code == 2
        assert "is not a whole number of at least 1" in capsys.readouterr().err
