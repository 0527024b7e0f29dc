import pytest

from tierline_intake.classify import UNCATEGORIZED, classify, prioritize
from tierline_intake.policies import load_priority_matrix, load_taxonomy
from tierline_shared.settings import POLICY_DIR

TAXONOMY = load_taxonomy(POLICY_DIR)
MATRIX = load_priority_matrix(POLICY_DIR)


def run(title: str, description: str = "", **given: str):
    return classify(title=title, description=description, taxonomy=TAXONOMY, matrix=MATRIX,
                    **given)


def test_vpn_outage_is_a_network_incident_with_its_subcategory() -> None:
    result = run("VPN is down", "Cannot connect to the VPN since 9am, error 809")
    assert result.ticket_type.value == "incident"
    assert result.category.value == "network"
    assert result.subcategory == "vpn"
    assert not result.needs_triage
    assert "vpn" in result.category.reason


def test_install_request_is_a_software_service_request() -> None:
    result = run("Please install Excel", "I need Excel installed on my new laptop")
    assert result.ticket_type.value == "service_request"
    assert result.category.value == "software"
    assert result.ticket_type.source == "inferred"


def test_text_without_any_keyword_is_flagged_for_triage() -> None:
    result = run("Question", "Who do I talk to about the thing from yesterday?")
    assert result.category.value == UNCATEGORIZED
    assert result.category.confidence == 0.0
    assert result.needs_triage


def test_mixed_signals_lower_confidence_below_the_triage_threshold() -> None:
    result = run("laptop vpn password", "")
    assert result.category.confidence < TAXONOMY.triage_below_confidence
    assert result.needs_triage


def test_given_values_win_and_are_explained_as_given() -> None:
    result = run("VPN is down", "", ticket_type="service_request", category="access",
                 impact="high", urgency="high")
    assert result.ticket_type.value == "service_request"
    assert result.category.value == "access"
    assert result.priority.value == "P1"
    explained = result.explanation()
    assert explained["category"]["source"] == "given"
    assert explained["impact"]["source"] == "given"


@pytest.mark.parametrize(("impact", "urgency", "expected"), [
    ("high", "high", "P1"), ("high", "medium", "P2"), ("high", "low", "P3"),
    ("medium", "high", "P2"), ("medium", "medium", "P3"), ("medium", "low", "P4"),
    ("low", "high", "P3"), ("low", "medium", "P4"), ("low", "low", "P5"),
])
def test_itil_matrix(impact: str, urgency: str, expected: str) -> None:
    _, _, priority = prioritize(MATRIX, impact, urgency)
    assert priority.value == expected


def test_missing_impact_and_urgency_use_the_policy_defaults() -> None:
    impact, urgency, priority = prioritize(MATRIX, None, "high")
    assert (impact.value, impact.source) == ("medium", "default")
    assert (urgency.value, urgency.source) == ("high", "given")
    assert priority.value == "P2"
