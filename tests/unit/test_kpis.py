"""The KPI formulas on a scripted day whose figures were worked out by hand
(tests/kpi_stream.py), and the edge cases of each definition."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from tests.kpi_stream import (
    COST_PER_AGENT_HOUR,
    DAY,
    EXPECTED,
    EXPECTED_AGENTS,
    IDS,
    PERIOD,
    script,
    subset,
)
from tierline_metrics.config import MetricsPolicy, business_seconds
from tierline_metrics.kpi.formulas import (
    KpiPolicy,
    Period,
    first_contact_resolved,
    percentile,
    report,
)
from tierline_metrics.kpi.targets import judge
from tierline_metrics.kpi.tickets import Ticket, fold_ticket, staffed_seconds
from tierline_shared.bus.events import AgentPresenceChanged, Event
from tierline_shared.settings import POLICY_DIR

POLICY = KpiPolicy(fcr_window=timedelta(days=7), cost_per_agent_hour=COST_PER_AGENT_HOUR)
BUSINESS = business_seconds(POLICY_DIR)


def fold(events: list[Event]) -> tuple[list[Ticket], dict[str, float]]:
    by_ticket: dict[uuid.UUID, list[Event]] = defaultdict(list)
    presence = []
    for e in events:
        if isinstance(e, AgentPresenceChanged):
            presence.append(e)
        else:
            by_ticket[e.ticket_id].append(e)  # type: ignore[attr-defined]
    tickets = [fold_ticket(tid, evs) for tid, evs in by_ticket.items()]
    return tickets, staffed_seconds(presence, *PERIOD)


def day_report(events: list[Event], group_by: Any = None) -> dict[str, Any]:
    tickets, staffed = fold(events)
    return report(tickets, Period(*PERIOD), POLICY, BUSINESS, staffed, group_by)


def test_every_overall_figure_of_the_scripted_day() -> None:
    actual = day_report(script())
    for key, expected in EXPECTED.items():
        assert (subset(actual[key], expected) if isinstance(expected, dict)
                else actual[key]) == expected, key


def test_per_agent_figures() -> None:
    groups = {g["key"]: g for g in day_report(script(), "agent")["groups"]}
    assert sorted(groups) == ["a1", "a2", "b1"]
    for agent, expected in EXPECTED_AGENTS.items():
        assert subset(groups[agent], expected) == expected, agent


def test_groups_by_tier_channel_category_and_priority() -> None:
    tiers = {g["key"]: g for g in day_report(script(), "tier")["groups"]}
    assert {k: g["output"] for k, g in tiers.items()} == {"1": 6, "2": 1}
    assert tiers["1"]["escalation"] == EXPECTED["escalation_by_tier"]["1"]
    # Tier 2 staffed b1's 10 hours: 400 for its one resolution.
    assert (tiers["1"]["cost_per_ticket"], tiers["2"]["cost_per_ticket"]) == (
        round(17 * 40 / 6, 2), 400.0)
    channels = {g["key"]: g for g in day_report(script(), "channel")["groups"]}
    assert {k: g["contacts"] for k, g in channels.items()} == EXPECTED["volume"]["channel"]
    assert channels["chat"]["fcr"] == EXPECTED["fcr_by_channel"]["chat"]
    assert channels["chat"]["deflected"] == 1 and channels["portal"]["deflected"] == 1
    assert channels["chat"]["cost_per_ticket"] is None
    categories = {g["key"]: g for g in day_report(script(), "category")["groups"]}
    assert categories["network"]["backlog"]["open"] == 1  # T9
    assert categories["software"]["csat"] == {"responses": 2, "satisfied": 0, "rate": 0.0,
                                              "mean": 2.5}  # T2 2, T6 3
    priorities = {g["key"]: g for g in day_report(script(), "priority")["groups"]}
    assert priorities["P2"]["sla_attainment"] == EXPECTED["sla_attainment_by_priority"]["P2"]


def test_groups_by_team_follow_the_team_of_the_agent_who_held_the_ticket() -> None:
    """The desk (a1, a2) and network-ops (b1) hold exactly what tiers 1 and 2 hold in the
    script, so their figures are the tiers' figures worked out above."""
    teams = {g["key"]: g for g in day_report(script(), "team")["groups"]}
    tiers = {g["key"]: g for g in day_report(script(), "tier")["groups"]}
    assert sorted(teams) == ["desk", "network-ops"]
    for team, tier in (("desk", "1"), ("network-ops", "2")):
        for figure in ("output", "escalation", "fcr", "cost_per_ticket", "backlog"):
            assert teams[team][figure] == tiers[tier][figure], (team, figure)


def test_arrival_order_does_not_change_a_figure() -> None:
    events = script()
    expected = day_report(events)
    for seed in range(5):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        assert day_report(shuffled) == expected


def test_targets_met_and_missed() -> None:
    rows = {r["target"]: r for r in judge(day_report(script()), MetricsPolicy().targets)}
    assert {name: (r["value"], r["met"]) for name, r in rows.items()} == {
        "deflection_rate": (0.1818, False),  # below 30%
        "fcr_rate": (0.3333, False),
        "csat_rate": (0.6, False),
        "tier1_resolution_p90_seconds": (21600, False),  # 6 h > 4 h
        "resolution_p90_seconds": (21600, True),  # < 24 h
        "tier1_escalation_rate": (0.1429, True),  # < 25%
        "escalation_rate": (0.2222, False),  # > 15%
    }
    assert (rows["deflection_rate"]["min"], rows["deflection_rate"]["max"]) == (0.30, 0.50)


def test_a_reopen_after_the_window_still_counts_as_a_reopen_but_not_against_fcr() -> None:
    events = script()
    late = [e for e in events if getattr(e, "ticket_id", None) == IDS["T1"]]
    from tests.kpi_stream import Script

    s = Script()
    s.status["T1"] = "resolved"
    s.move("T1", "reopened", "00:00")
    s.move("T1", "resolved", "01:00")
    eight_days = timedelta(days=8)
    for e in s.events:
        late.append(e.model_copy(update={"changed_at": e.changed_at + eight_days}))  # type: ignore[attr-defined]
    ticket = fold_ticket(IDS["T1"], late)
    assert len(ticket.reopens) == 1 and first_contact_resolved(ticket, timedelta(days=7))
    assert not first_contact_resolved(ticket, timedelta(days=9))


def test_a_repeat_contact_outside_the_window_is_a_new_issue() -> None:
    from tierline_metrics.kpi.formulas import issues

    tickets, _ = fold(script())
    t5 = next(t for t in tickets if t.ticket_id == IDS["T5"])
    t6 = next(t for t in tickets if t.ticket_id == IDS["T6"])
    assert [len(i) for i in issues([t5, t6], timedelta(hours=4))] == [2]
    assert [len(i) for i in issues([t5, t6], timedelta(hours=3))] == [1, 1]


@pytest.mark.parametrize(("values", "p50", "p90"), [
    ([], None, None), ([7], 7, 7), ([1, 2], 1, 2), ([5, 1, 4, 2, 3], 3, 5),
    (list(range(1, 11)), 5, 9)])
def test_nearest_rank_percentiles(values: list[float], p50: Any, p90: Any) -> None:
    assert (percentile(values, 50), percentile(values, 90)) == (p50, p90)


def test_staffed_time_is_clipped_to_the_period() -> None:
    def change(presence: str, hours: float) -> AgentPresenceChanged:
        return AgentPresenceChanged(agent_id="x", presence=presence,  # type: ignore[arg-type]
                                    changed_at=DAY + timedelta(hours=hours))

    changes = [change("available", -2), change("away", 1), change("busy", 2),
               change("offline", 3), change("available", 23)]
    # 00:00-01:00 available, 02:00-03:00 busy, 23:00-24:00 available (holds to the end).
    assert staffed_seconds(changes, *PERIOD) == {"x": 3 * 3600}


def test_the_shipped_metrics_policy_is_the_default_and_errors_name_file_line_and_field(
        tmp_path: Any) -> None:
    from tierline_metrics.config import load_metrics_policy
    from tierline_shared.policy import PolicyError

    assert load_metrics_policy(POLICY_DIR) == MetricsPolicy()
    (tmp_path / "metrics.yaml").write_text(
        "version: 1\ntargets:\n  fcr_rate: {min: 0.9, max: 0.5}\n")
    with pytest.raises(PolicyError, match=r"metrics.yaml:3: targets.fcr_rate: .*min is above"):
        load_metrics_policy(tmp_path)
