from pathlib import Path

import pytest

from tierline_router.routing.rules import (
    RoutingPolicy,
    TicketFacts,
    effective_rank,
    load_routing_policy,
    need_for,
    next_review_s,
)
from tierline_shared.policy import PolicyError
from tierline_shared.settings import POLICY_DIR

SHIPPED = load_routing_policy(POLICY_DIR)


def facts(**kw) -> TicketFacts:
    base = dict(ticket_type="incident", category="network", priority="P3", channel="portal")
    base.update(kw)
    return TicketFacts(**base)


def test_default_need_is_the_category_skill_at_level_1() -> None:
    need = need_for(SHIPPED, facts())
    assert (need.rule, need.queue, dict(need.skills)) == ("default", "default", {"network": 1})
    assert (need.min_tier, need.max_tier, need.generalist_ok) == (1, 3, True)


def test_first_matching_rule_wins_and_fills_from_default() -> None:
    need = need_for(SHIPPED, facts(category="access", subcategory="security", priority="P1"))
    assert need.rule == "access-security"
    assert dict(need.skills) == {"access": 3} and need.min_tier == 2
    assert not need.generalist_ok and need.max_tier == 3
    assert need_for(SHIPPED, facts(priority="P1")).skills == {"network": 3}
    assert need_for(SHIPPED, facts(plan="enterprise")).skills == {"network": 2}
    triage = need_for(SHIPPED, facts(triage=True))
    assert (triage.rule, dict(triage.skills), triage.generalist_ok) == ("triage", {"triage": 1},
                                                                        False)


def test_escalation_raises_the_tier_and_can_change_the_skill() -> None:
    need = need_for(SHIPPED, facts(escalated_tier=2))
    assert need.min_tier == 2 and "escalated to tier 2" in need.widened
    need = need_for(SHIPPED, facts(escalated_skill="database"))
    assert dict(need.skills) == {"database": 1} and not need.generalist_ok


def test_expansion_lowers_levels_then_adds_a_tier() -> None:
    policy = RoutingPolicy.model_validate({
        "version": 1, "rules": [{"name": "t1", "when": {"categories": ["network"]},
                                 "need": {"skills": {"network": 4}, "max_tier": 1}}],
        "expansion": [{"after_s": 300, "extra_tiers": 2}, {"after_s": 120, "min_level": 2}]})
    assert need_for(policy, facts(), waited_s=119).skills == {"network": 4}
    at_2m = need_for(policy, facts(), waited_s=120)
    assert at_2m.skills == {"network": 2} and at_2m.max_tier == 1
    at_5m = need_for(policy, facts(), waited_s=300)
    assert at_5m.max_tier == 3
    assert at_5m.widened == ("after 120s waiting: skill level 2 accepted",
                             "after 300s waiting: up to tier 3")
    assert next_review_s(policy, 0) == 120 and next_review_s(policy, 120) == 300


def test_aging_moves_up_a_step_per_period_but_never_level_with_p1() -> None:
    policy = RoutingPolicy.model_validate({"version": 1, "aging_s": 600, "aging_max_steps": 3})
    assert [effective_rank(policy, "P4", s) for s in (0, 599, 600, 1200, 1800, 99999)] == \
        [4, 4, 3, 2, 2, 2]
    assert effective_rank(policy, "P1", 5000) == 1
    assert next_review_s(policy, 0) == 600 and next_review_s(policy, 1800) is None
    assert effective_rank(RoutingPolicy.model_validate({"version": 1, "aging_s": 0}),
                          "P5", 10**6) == 5


def test_policy_errors_name_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "routing.yaml").write_text(
        "version: 1\nrules:\n  - name: x\n    need: {skills: {network: 9}}\n"
        "expansion:\n  - after_s: 60\n")
    with pytest.raises(PolicyError) as err:
        load_routing_policy(tmp_path)
    text = str(err.value)
    assert "routing.yaml:4: rules.0.need.skills" in text and "level 9 is not 1 to 5" in text
    assert "routing.yaml:6: expansion.0" in text and "min_level or extra_tiers" in text


def test_acceptance_is_chosen_per_rule_with_the_policy_as_default() -> None:
    from pydantic import ValidationError

    from tierline_router.routing.rules import acceptance_of

    policy = RoutingPolicy.model_validate({
        "version": 1, "acceptance": "accept_in_desk",
        "rules": [{"name": "auto", "when": {"channels": ["api"]}, "acceptance": "auto_accept"},
                  {"name": "plain", "when": {"channels": ["chat"]}}]})
    assert acceptance_of(policy, need_for(policy, facts(channel="api")).rule) == "auto_accept"
    assert acceptance_of(policy, need_for(policy, facts(channel="chat")).rule) == \
        "accept_in_desk"
    assert acceptance_of(policy, "default") == "accept_in_desk"
    assert acceptance_of(SHIPPED, "default") == "offer"
    with pytest.raises(ValidationError, match="acceptance"):
        RoutingPolicy.model_validate({"version": 1, "rules": [
            {"name": "x", "acceptance": "whenever"}]})
