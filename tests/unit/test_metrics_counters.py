"""Metrics' counter totals without I/O: what a row counts for, and how a batch moves it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from tierline_metrics.events import counters
from tierline_metrics.events.fold import Row

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def created(**extra: object) -> dict[str, object]:
    return {"created_at": T0, "created_priority": "P3", "created_category": "network",
            "deflected": False, "reopen_count": 0, **extra}


def test_a_logged_ticket_counts_as_created_to_route_and_backlog() -> None:
    totals = counters.ticket(created())
    assert totals["tickets_created", "P3", "network"] == 1
    assert totals["tickets_to_route", "P3", "network"] == 1
    assert totals["backlog", "P3", ""] == 1
    assert totals["tickets_resolved", "P3", ""] == 0 and ("tickets_resolved", "P3", "") in totals
    assert ("tickets_assigned", "P3", "network") not in totals


def test_a_deflected_contact_is_created_but_never_routed_or_in_the_backlog() -> None:
    totals = counters.ticket(created(deflected=True, channel="chat"))
    assert totals["tickets_created", "P3", "network"] == 1
    assert ("tickets_to_route", "P3", "network") not in totals
    assert ("backlog", "P3", "") not in totals
    assert totals["tickets_deflected", "chat", ""] == 1


def test_histograms_count_cumulative_buckets_and_sum_exact_microseconds() -> None:
    totals = counters.ticket(created(first_response_at=T0 + timedelta(seconds=300, microseconds=7)))
    assert ("first_response_bucket", "P3", "300") not in totals  # 300.000007 s > 300 s
    assert totals["first_response_bucket", "P3", "900"] == 1
    assert totals["first_response_bucket", "P3", "604800"] == 1
    assert totals["first_response_sum_us", "P3", ""] == 300_000_007
    assert totals["first_response_count", "P3", ""] == 1


def test_resolutions_count_each_reopen_and_the_current_one() -> None:
    totals = counters.ticket(created(status="resolved", reopen_count=2, agent_id="a1",
                                     resolved_at=T0 + timedelta(hours=1)))
    assert totals["tickets_resolved", "P3", ""] == 3
    assert totals["tickets_reopened", "P3", ""] == 2
    assert ("backlog", "P3", "") not in totals
    assert totals["agent_resolved", "a1", ""] == 1
    assert totals["resolution_bucket", "P3", "3600"] == 1


def test_surveys_count_by_score_and_group() -> None:
    assert counters.ticket({"csat": 4, "nps": 9}) == Counter(
        {("csat_responses", "4", ""): 1, ("nps_responses", "promoter", ""): 1})
    assert counters.ticket({"csat": 0, "nps": 6}) == Counter(
        {("nps_responses", "detractor", ""): 1})
    assert counters.ticket({"nps": 7}) == Counter({("nps_responses", "passive", ""): 1})


def test_merged_applies_the_ops_as_the_update_does() -> None:
    row = Row()
    row.set(status="resolved")
    row.first("first_response_at", T0)
    row.max("updates_due", 3)
    row.add("reopen_count", 1)
    columns = ("status", "first_response_at", "updates_due", "reopen_count", "deflected")
    fresh = counters.merged(None, row.changes, columns)
    assert fresh == {"status": "resolved", "first_response_at": T0, "updates_due": 3,
                     "reopen_count": 1, "deflected": False}
    stored = {"status": "new", "first_response_at": T0 - timedelta(hours=1),
              "updates_due": 5, "reopen_count": 2, "deflected": False}
    assert counters.merged(stored, row.changes, columns) == {
        "status": "resolved", "first_response_at": T0 - timedelta(hours=1), "updates_due": 5,
        "reopen_count": 3, "deflected": False}


def test_a_change_moves_totals_down_as_well_as_up_and_keeps_zero_groups() -> None:
    before = counters.ticket(created())
    after = counters.ticket(created(status="resolved"))
    moved = counters.change(before, after)
    assert moved["backlog", "P3", ""] == -1
    assert moved["tickets_resolved", "P3", ""] == 1
    assert moved["tickets_created", "P3", "network"] == 0  # named: its total stays
    assert ("tickets_created", "P3", "network") in moved
    assert before + moved == +after


def test_incidents_count_once_and_by_stage_while_open() -> None:
    assert counters.incident(None) == Counter()
    assert counters.incident({}) == Counter({("major_incidents", "", ""): 1,
                                             ("major_incidents_open", "declared", ""): 1})
    assert counters.incident({"restored_at": T0})["major_incidents_open", "restored", ""] == 1
    closed = counters.incident({"resolved_at": T0, "closed_at": T0})
    assert closed == Counter({("major_incidents", "", ""): 1})


def test_buckets_at_every_bound_and_rows_summed_into_one_total_as_one_by_one() -> None:
    """A response exactly at a bound is in that bucket, a microsecond over is not; rows
    added into one total (the rebuild) give the sum of their counts one by one (live)."""
    import random

    for bound in counters.BUCKETS_S:
        at = counters.ticket(created(first_response_at=T0 + timedelta(seconds=bound)))
        over = counters.ticket(created(first_response_at=T0 + timedelta(seconds=bound,
                                                                       microseconds=1)))
        assert at["first_response_bucket", "P3", str(bound)] == 1, bound
        assert ("first_response_bucket", "P3", str(bound)) not in over, bound
        assert sum(n for (name, _, _), n in at.items() if name.endswith("_bucket")) == (
            len([b for b in counters.BUCKETS_S if b >= bound]))
    rng = random.Random(4)
    rows = [created(created_priority=rng.choice(["P1", "P3"]), status=rng.choice(
                        ["new", "resolved", "closed"]), reopen_count=rng.randrange(3),
                    first_response_at=T0 + timedelta(seconds=rng.randrange(-5, 10**6)),
                    resolved_at=rng.choice([None, T0 + timedelta(seconds=rng.randrange(10**6))]),
                    csat=rng.choice([None, 1, 5]), agent_id=rng.choice([None, "ada"]))
            for _ in range(300)]
    one_by_one: Counter[counters.Key] = Counter()
    for row in rows:
        one_by_one.update(counters.ticket(row))
    summed: Counter[counters.Key] = Counter()
    for row in rows:
        counters.ticket(row, summed)
    assert summed == one_by_one and set(summed) == set(one_by_one)
