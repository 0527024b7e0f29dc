from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tierline_shared.policy import PolicyError
from tierline_shared.sim.plan import Draws, arrivals, load_corpus, roster
from tierline_shared.sim.report import Story, summarize, text
from tierline_shared.sim.scenario import SCENARIOS, Scenario, load_scenario

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
BASE = {"version": 1, "name": "t", "duration_minutes": 600, "seed": 3,
        "arrivals": {"portal": {"per_hour": 60}, "chat": {"per_hour": 30}},
        "agents": [{"name": "a", "count": 2, "tier": 1, "skills": {"general": 3},
                    "channels": {"portal": 2}},
                   {"name": "b", "count": 1, "tier": 2, "skills": {"general": 4},
                    "channels": {"portal": 1, "chat": 1}, "max_total": 2}],
        "handle_time": {1: {"median_minutes": 10, "sigma": 0.5},
                        2: {"median_minutes": 20}}}


def test_every_shipped_scenario_loads() -> None:
    names = sorted(p.name for p in SCENARIOS.glob("*.yaml"))
    assert names == ["erlang-a-chat.yaml", "erlang-c-71-long.yaml", "erlang-c.yaml",
                     "make-run-smoke.yaml", "service-desk.yaml", "skills.yaml",
                     "staffing-compare.yaml", "staffing-round-trip.yaml"]
    for name in names:
        assert load_scenario(Path(name)).version == 1
    compare = load_scenario(Path("staffing-compare.yaml"))
    variant = compare.variant(compare.compare[0])
    assert [g.count for g in variant.agents] == [7, 2] and variant.compare == []


def test_arrivals_are_poisson_at_the_profiled_rate_and_reproducible() -> None:
    scenario = Scenario.model_validate(BASE | {"profile": {10: 2.0, 11: 0.0}})
    corpus = load_corpus()
    plan = arrivals(scenario, corpus)
    assert plan == arrivals(scenario, corpus)  # the same seed, the same arrivals
    by_hour = {h: [a for a in plan if a.at.hour == h] for h in range(9, 19)}
    assert len(by_hour[11]) == 0
    # 10:00 runs at twice the rate: 180/h against 90/h elsewhere, within Poisson noise
    others = np.mean([len(by_hour[h]) for h in (9, 12, 13, 14, 15, 16, 17, 18)])
    assert 80 <= others <= 100 and 150 <= len(by_hour[10]) <= 210
    gaps = np.diff([(a.at - T0).total_seconds() for a in plan if a.at.hour >= 12])
    assert abs(np.std(gaps) / np.mean(gaps) - 1) < 0.15  # exponential gaps: CV near 1
    assert {a.channel for a in plan} == {"portal", "chat"}
    assert all(a.title and a.description and a.customer.startswith("sim-u") for a in plan)


def test_roster_and_draws() -> None:
    scenario = Scenario.model_validate(BASE)
    agents = roster(scenario)
    assert sorted(agents) == ["sim-a-0", "sim-a-1", "sim-b-0"]
    assert agents["sim-b-0"]["max_total"] == 2 and "max_total" not in agents["sim-a-0"]
    draws = Draws(scenario)
    times = [draws.handle_seconds(1) for _ in range(4000)]
    assert 560 <= float(np.median(times)) <= 640  # lognormal around its 10-minute median
    assert not any(draws.escalates(2) for _ in range(100))  # nobody above tier 2 to take it
    assert 0 < sum(draws.escalates(1) for _ in range(1000)) < 200
    scores = [draws.csat(0, False, False) for _ in range(2000)]
    answered = [s for s in scores if s is not None]
    assert 0.35 <= len(answered) / len(scores) <= 0.45
    assert all(1 <= s <= 5 for s in answered)
    late = [draws.csat(3600, True, True) for _ in range(2000)]
    assert np.mean([s for s in late if s]) < np.mean(answered) - 1


def test_summary_figures_worked_by_hand() -> None:
    def story(n: int, wait: float | None, **kw) -> Story:
        s = Story(ticket_id=str(n), arrived=T0, channel="portal", priority="P3", **kw)
        if wait is not None:
            s.offers.append((T0 + timedelta(seconds=wait), kw.pop("agent", "x"), 1))
        return s

    done = T0 + timedelta(hours=1)
    stories = [story(1, 30, resolved_at=done, csat=5), story(2, 90, resolved_at=done, csat=3),
               story(3, 400, resolved_at=done, escalated=True), story(4, None)]
    stories[2].offers.append((T0 + timedelta(seconds=900), "y", 2))
    summary = summarize(stories, {"x": 1800.0, "y": 900.0}, {"x": (1, 2), "y": (2, 1)},
                        span_s=3600, service_level_s=120)
    assert summary["service_level"] == 0.5  # 2 of 4 offered within 120 s
    assert summary["asa_s"] == round((30 + 90 + 400) / 3, 1)
    assert summary["fcr"] == round(2 / 3, 4)  # the escalated one is not first contact
    assert (summary["csat_satisfied"], summary["csat_mean"]) == (0.5, 4)
    assert summary["escalation_rate"] == round(1 / 3, 4)
    assert summary["occupancy_by_tier"] == {"1": 0.25, "2": 0.25}
    assert "| service level | 0.5 |" in text({"run": summary})


def test_bad_scenarios_name_the_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nduration_minutes: 10\narrivals: {fax: {per_hour: 1}}\n"
                   "agents:\n  - {name: a, count: 1, tier: 2, skills: {general: 1}, "
                   "channels: {portal: 1}}\nhandle_time: {1: {median_minutes: 5}}\n")
    with pytest.raises(PolicyError) as err:
        load_scenario(bad)
    assert "bad.yaml:4: arrivals.fax" in str(err.value)
