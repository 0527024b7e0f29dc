"""The escalation matrix, predictive signals and SLA policy profiles, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tierline_shared.policy import PolicyError
from tierline_shared.settings import POLICY_DIR
from tierline_shared.sla_policy import load_sla_policy
from tierline_sla.clocks.domain import ClockEvent, fold, threshold_due
from tierline_sla.escalations.domain import (
    Signals,
    TicketView,
    act,
    load_escalation_policy,
    matching_rules,
    predictive,
    sentiment,
)

POLICY = load_escalation_policy(POLICY_DIR)
SLA = load_sla_policy(POLICY_DIR)
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_rules_match_by_clock_threshold_priority_and_tier() -> None:
    tier1 = TicketView(priority="P2", category="network", tier=1)
    tier2 = TicketView(priority="P2", category="network", tier=2)
    low = TicketView(priority="P4", category="network", tier=1)
    assert [r.name for r in matching_rules(POLICY, "resolution", 75, tier1)] == [
        "resolution-tier1-to-tier2"]
    assert matching_rules(POLICY, "resolution", 75, tier2) == []
    assert matching_rules(POLICY, "resolution", 75, low) == []
    assert [r.name for r in matching_rules(POLICY, "resolution", 100, low)] == [
        "resolution-breach"]
    assert POLICY.thresholds("resolution") == {75, 100, 150}


def test_functional_next_tier_and_the_top_of_the_ladder() -> None:
    rule = next(r for r in POLICY.rules if r.name == "resolution-tier1-to-tier2")
    up = act(rule, rule.name, "why", TicketView("P2", "network", 1))
    assert up is not None and (up.kind, up.to_tier) == ("functional", 2)
    unassigned = act(rule, rule.name, "why", TicketView("P2", "network", 0))
    assert unassigned is not None and unassigned.to_tier == 2
    assert act(rule, rule.name, "why", TicketView("P2", "network", 3)) is None


def test_hierarchical_raises_priority_one_step_but_not_past_p1() -> None:
    rule = next(r for r in POLICY.rules if r.name == "resolution-breach")
    raised = act(rule, rule.name, "why", TicketView("P3", "network", 1))
    assert raised is not None and raised.raise_priority_to == "P2"
    top = act(rule, rule.name, "why", TicketView("P1", "network", 1))
    assert top is not None and top.raise_priority_to is None and top.notify == ("team_manager",)


def test_vader_scores_angry_messages_negative() -> None:
    assert sentiment("This is useless, I am furious and nobody helps") < -0.5
    assert sentiment("Thanks, that fixed it!") > 0.3
    assert sentiment("The VPN gateway is vpn-gw-01") == pytest.approx(0.0)


def test_predictive_signals_each_with_its_reason_and_once() -> None:
    signals = Signals(negative_messages=2, worst_sentiment=-0.8, reassignments=2,
                      interactions=3, reopens=0, repeat_contacts=3)
    found = predictive(POLICY.predictive, signals)
    assert [trigger for trigger, _, _ in found] == ["sentiment", "complexity", "repeat_contact"]
    reasons = {trigger: reason for trigger, _, reason in found}
    assert "2 reassignments (limit 2)" in reasons["complexity"]
    assert "3 contacts" in reasons["repeat_contact"]
    assert predictive(POLICY.predictive, signals, already=["sentiment", "complexity",
                                                           "repeat_contact"]) == []
    assert predictive(POLICY.predictive, Signals()) == []


def test_bad_escalation_files_name_the_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "escalation.yaml").write_text(
        "version: 1\nrules:\n  - name: x\n    when: {clock: resolution, at_percent: 50}\n"
        "    functional: {}\n")
    with pytest.raises(PolicyError, match=r"escalation\.yaml:5: rules\.0\.functional"):
        load_escalation_policy(tmp_path)
    (tmp_path / "escalation.yaml").write_text(
        "version: 1\nrules:\n  - name: x\n    when: {clock: resolution, at_percent: 50}\n")
    with pytest.raises(PolicyError, match="exactly one of functional or hierarchical"):
        load_escalation_policy(tmp_path)


def test_profiles_choose_targets_by_plan_type_and_channel() -> None:
    assert SLA.profile_for("incident", "portal", "enterprise") == "enterprise"
    assert SLA.profile_for("incident", "phone", None) == "incident-reported-start"
    assert SLA.profile_for("service_request", "phone", None) == "default"
    assert SLA.target("P3", "enterprise").resolution == 720
    assert SLA.target("P2", "enterprise").resolution == 480  # not overridden
    assert SLA.calendar_for("P3", "enterprise").name == "24x7"
    assert SLA.start_for("incident-reported-start") == "reported"


def test_threshold_due_times_follow_the_business_calendar() -> None:
    state = fold(SLA, "first_response", [ClockEvent(T0, "start", "P3")])  # 120 min, office
    assert threshold_due(SLA, state, 50) == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert threshold_due(SLA, state, 75) == datetime(2026, 11, 24, 11, 30, tzinfo=UTC)
    assert threshold_due(SLA, state, 100) == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    # 180 minutes from 10:00 run past the 12:30-13:30 lunch break
    assert threshold_due(SLA, state, 150) == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    paused = fold(SLA, "first_response", [ClockEvent(T0, "start", "P3"),
                                          ClockEvent(T0, "pause")])
    assert threshold_due(SLA, paused, 50) is None
