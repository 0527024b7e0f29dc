"""The in-memory reference for skills scenarios: router's own rules and matcher in a
discrete-event loop. On one pool it must be Erlang C; on skills it must route as the
matcher says; and the comparison must name each queue."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tierline_router.routing.rules import load_routing_policy
from tierline_shared.erlang import erlang_c_figures
from tierline_shared.settings import Settings
from tierline_shared.sim.reference import at_hold, compare, one_run, queue_ranges, table
from tierline_shared.sim.report import Story
from tierline_shared.sim.scenario import Scenario, load_scenario

POLICY = load_routing_policy(Settings().policy_dir)
POOL = {"version": 1, "name": "pool", "duration_minutes": 1200, "seed": 3,
        "service_level_seconds": 20, "arrivals": {"portal": {"per_hour": 96}},
        "mix": {"categories": {"software": 1}, "types": {"service_request": 1},
                "priorities": {"P4": 1}},
        "agents": [{"name": "pool", "count": 10, "tier": 1, "skills": {"software": 3},
                    "channels": {"portal": 1}}],
        "handle_time": {1: {"distribution": "exponential", "mean_minutes": 5}},
        "outcomes": {"escalation": 0, "reopen": 0},
        "reference": {"warmup_minutes": 60, "replications": 20}}


def test_one_pool_in_memory_is_erlang_c() -> None:
    ranges = queue_ranges(Scenario.model_validate(POOL), POLICY, 12, 3600)
    expected = erlang_c_figures(10, 8.0, 300, 20).service_level
    assert ranges["software"]["low"] < expected < ranges["software"]["high"]
    assert ranges["software"]["mean"] == pytest.approx(expected, abs=0.04)


def test_skills_route_by_the_matcher() -> None:
    """A ticket nobody has the skill for waits for ever; specialists are preferred."""
    scenario = Scenario.model_validate(POOL | {
        "mix": POOL["mix"] | {"categories": {"software": 1, "hardware": 1}},
        "duration_minutes": 120})
    run = one_run(scenario, POLICY, 1)
    served = {c for _, c, _ in run}
    assert served == {"software"}  # nobody has hardware (and no general skill)
    shipped = load_scenario(Path("skills.yaml"))
    ranges = queue_ranges(shipped, POLICY, 10, 1200)
    assert set(ranges) == {"network", "software"}
    assert all(0.3 < r["mean"] < 1 for r in ranges.values())


def test_the_comparison_names_each_queue() -> None:
    scenario = Scenario.model_validate(POOL | {"duration_minutes": 300})
    stories = []
    for n in range(400):
        arrived = scenario.start + timedelta(minutes=60 + n * 0.5)
        stories.append(Story(ticket_id=str(n), arrived=arrived, channel="portal",
                             priority="P4", category="software",
                             offers=[(arrived + timedelta(seconds=5), "a", 1)],
                             routed_at=arrived + timedelta(seconds=1)))
    result = compare(scenario, stories, POLICY)
    row = result["software"]
    assert row["tickets"] == 400 and row["customer"]["mean"] == 1.0
    assert not row["within_runs"] or row["reference"]["high"] == 1.0
    assert "| software | 400 |" in table(result, 20)


def test_reference_needs_one_channel_priority_and_type() -> None:
    with pytest.raises(ValueError, match="one priority and one ticket type"):
        Scenario.model_validate(POOL | {"mix": POOL["mix"] | {"priorities": {"P3": 1,
                                                                             "P4": 1}}})


def test_router_alone_is_held_against_the_rules_at_the_measured_hold() -> None:
    """Capacity held half again as long as the handle time: the reference is run again with
    the handle times stretched by that factor, and router alone is judged against it."""
    scenario = Scenario.model_validate(POOL | {"duration_minutes": 300,
                                               "reference": {"warmup_minutes": 60,
                                                             "replications": 12}})
    assert at_hold(scenario, 1.5).handle_time[1].mean_s == pytest.approx(450)
    lognormal = Scenario.model_validate(POOL | {"handle_time": {1: {"median_minutes": 4}},
                                                "reference": {"replications": 10}})
    assert at_hold(lognormal, 2).handle_time[1].mean_s == pytest.approx(
        2 * lognormal.handle_time[1].mean_s)
    stories = []
    for n in range(400):
        arrived = scenario.start + timedelta(minutes=60 + n * 0.5)
        offered = arrived + timedelta(seconds=5)
        stories.append(Story(ticket_id=str(n), arrived=arrived, channel="portal",
                             priority="P4", category="software", offers=[(offered, "a", 1)],
                             routed_at=arrived + timedelta(seconds=1),
                             released_at=offered + timedelta(seconds=450)))
    row = compare(scenario, stories, POLICY)["software"]
    assert row["hold_factor"] == pytest.approx(1.5)
    assert row["reference_at_hold"]["mean"] < row["reference"]["mean"]
    assert isinstance(row["router_alone_within_runs_at_hold"], bool)
    assert "hold x1.500" in table({"software": row}, 20)
