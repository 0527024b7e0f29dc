"""Priority from impact x urgency, and every inference rule with its reason."""

from pathlib import Path

import pytest

from tierline_intake.policies import PriorityPolicy, load_priority_policy
from tierline_intake.tickets.priority import PriorityOverride, Signals, prioritize
from tierline_shared.policy import PolicyError, load_policy
from tierline_shared.settings import POLICY_DIR

POLICY = load_priority_policy(POLICY_DIR)


def run(impact=None, urgency=None, override=None, **signals):
    return prioritize(POLICY, impact=impact, urgency=urgency, signals=Signals(**signals),
                      override=override)


@pytest.mark.parametrize(("impact", "urgency", "expected"), [
    ("high", "high", "P1"), ("high", "medium", "P2"), ("high", "low", "P3"),
    ("medium", "high", "P2"), ("medium", "medium", "P3"), ("medium", "low", "P4"),
    ("low", "high", "P3"), ("low", "medium", "P4"), ("low", "low", "P5"),
])
def test_itil_matrix_with_given_values(impact: str, urgency: str, expected: str) -> None:
    _, _, priority, reasons = run(impact, urgency)
    assert priority == expected
    assert [(r.field, r.source) for r in reasons] == [
        ("impact", "given"), ("urgency", "given"), ("priority", "inferred")]
    assert reasons[-1].reason == f"matrix[impact={impact}][urgency={urgency}]"


def test_nothing_known_uses_the_policy_defaults_and_says_so() -> None:
    impact, urgency, priority, reasons = run(text="Question about my screen")
    assert (impact, urgency, priority) == ("medium", "medium", "P3")
    assert [r.source for r in reasons[:2]] == ["default", "default"]


@pytest.mark.parametrize(("scope", "impact"), [
    ("organization", "high"), ("business_unit", "high"), ("team", "medium"),
    ("individual", "low")])
def test_scope_of_affected_users_sets_impact(scope: str, impact: str) -> None:
    found, _, _, reasons = run(scope=scope)
    assert found == impact
    assert reasons[0].reason == f"affects {scope.replace('_', ' ')}"


@pytest.mark.parametrize(("count", "impact"), [(1, "low"), (9, "low"), (10, "medium"),
                                               (99, "medium"), (100, "high"), (5000, "high")])
def test_count_of_affected_users_sets_impact(count: int, impact: str) -> None:
    found, _, _, reasons = run(affected_count=count)
    assert found == impact
    assert f"{count} users affected" in reasons[0].reason


def test_the_more_severe_of_scope_and_count_wins() -> None:
    found, _, _, _ = run(scope="individual", affected_count=250)
    assert found == "high"


def test_business_critical_service_raises_impact_one_step() -> None:
    impact, _, _, reasons = run(scope="team", business_critical=True, service="Payroll")
    assert impact == "high"
    assert reasons[1].reason == "service 'Payroll' is business-critical: raised from medium"
    top, _, _, _ = run(scope="organization", business_critical=True)
    assert top == "high"  # already at the top: stays


@pytest.mark.parametrize("text", [
    "Email is down for everyone", "Major outage in the Berlin office",
    "No workaround, we are stuck", "Possible security breach on the file server"])
def test_urgent_words_set_high_urgency(text: str) -> None:
    _, urgency, _, reasons = run(text=text)
    assert urgency == "high"
    assert reasons[1].source == "inferred" and reasons[1].reason.startswith("words [")


def test_calm_words_set_low_urgency() -> None:
    _, urgency, _, _ = run(text="Not urgent: a new mouse whenever you can")
    assert urgency == "low"


def test_vip_and_plan_raise_urgency_each_one_step() -> None:
    _, urgency, priority, reasons = run(text="no rush", vip=True)
    assert urgency == "medium"
    assert reasons[-2].reason == "requester is a VIP: raised from low"
    _, urgency, _, reasons = run(plan="enterprise")
    assert urgency == "high"
    assert reasons[-2].reason == "customer plan 'enterprise': raised from medium"
    _, urgency, _, reasons = run(text="no rush", vip=True, plan="enterprise")
    assert urgency == "high"  # low, raised twice
    assert [r.value for r in reasons if r.field == "urgency"] == ["low", "medium", "high"]


def test_down_for_the_whole_organization_is_p1() -> None:
    impact, urgency, priority, _ = run(text="Salesforce is down", scope="organization")
    assert (impact, urgency, priority) == ("high", "high", "P1")


def test_override_is_recorded_with_who_and_why() -> None:
    _, _, priority, reasons = run(impact="low", urgency="low",
                                  override=PriorityOverride("P1", "duty-manager", "CEO's laptop"))
    assert priority == "P1"
    assert reasons[-1].source == "override"
    assert reasons[-1].reason == "overridden by duty-manager (matrix gave P5): CEO's laptop"
    assert reasons[-2].value == "P5"


def test_a_four_level_matrix_works(tmp_path: Path) -> None:
    levels = ["critical", "high", "medium", "low"]
    grid = [["P1", "P1", "P2", "P3"], ["P1", "P2", "P3", "P4"], ["P2", "P3", "P4", "P5"],
            ["P3", "P4", "P5", "P5"]]
    rows = "\n".join(
        f"  {impact}: {{{', '.join(f'{u}: {p}' for u, p in zip(levels, row, strict=True))}}}"
        for impact, row in zip(levels, grid, strict=True))
    path = tmp_path / "priority.yaml"
    path.write_text(f"version: 1\nlevels: [{', '.join(levels)}]\ndefault_impact: medium\n"
                    f"default_urgency: medium\nmatrix:\n{rows}\n"
                    "impact_rules: {scope: {organization: critical}}\n")
    policy = load_policy(path, PriorityPolicy)
    _, _, priority, _ = prioritize(policy, impact=None, urgency="critical",
                                   signals=Signals(scope="organization"))
    assert priority == "P1"


def test_rules_naming_unknown_levels_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "priority.yaml"
    text = (POLICY_DIR / "priority.yaml").read_text().replace("team: medium", "team: severe")
    path.write_text(text)
    with pytest.raises(PolicyError, match="severe"):
        load_policy(path, PriorityPolicy)
