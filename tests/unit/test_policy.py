from pathlib import Path

import pytest

from tierline_intake.policies import PriorityPolicy as PriorityMatrix
from tierline_intake.policies import load_priority_policy
from tierline_shared.policy import PolicyError, load_policy
from tierline_shared.settings import POLICY_DIR
from tierline_shared.sla_policy import load_sla_policy


def test_shipped_policies_load() -> None:
    assert load_priority_policy(POLICY_DIR).matrix["high"]["high"] == "P1"
    assert load_sla_policy(POLICY_DIR).targets["P1"].first_response == 15


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "priority.yaml"
    path.write_text(
        "version: 1\n"
        "levels: [high, low]\n"
        "default_impact: high\n"
        "default_urgency: sometimes\n"
        "matrix:\n"
        "  high: {high: P1, low: P2}\n"
        "  low: {high: P3, low: P5}\n"
    )
    with pytest.raises(PolicyError) as err:
        load_policy(path, PriorityMatrix)
    assert f"{path}:1: (top level):" in str(err.value)
    assert "default_urgency must be one of the levels" in str(err.value)


def test_wrong_type_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "priority.yaml"
    path.write_text("version: 1\nlevels: [high]\ndefault_impact: high\n"
                    "default_urgency: high\nmatrix:\n  high: not-a-mapping\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path, PriorityMatrix)
    assert f"{path}:6: matrix.high:" in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text("version: 1\ntargets:\n  P1: {first_response: 15\n")
    with pytest.raises(PolicyError, match=r"sla\.yaml:\d+: not valid YAML"):
        load_sla_policy(tmp_path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_sla_policy(tmp_path)


def test_sla_due_times_use_the_priority_calendar() -> None:
    from datetime import UTC, datetime

    policy = load_sla_policy(POLICY_DIR)
    friday_evening = datetime(2026, 11, 27, 16, 45, tzinfo=UTC)
    due, target = policy.due("P3", "first_response", friday_evening)  # office hours
    assert (due, target) == (datetime(2026, 11, 30, 10, 15, tzinfo=UTC), 7200)
    due, _ = policy.due("P2", "first_response", friday_evening)  # 24x7
    assert due == datetime(2026, 11, 27, 17, 15, tzinfo=UTC)


@pytest.mark.parametrize(("change", "message"), [
    ("calendar: office}", "calendar: nowhere}"),
    ("timezone: UTC\n    hours", "timezone: Mars/Olympus\n    hours"),
    ('mon: ["09:00-12:30"', 'mon: ["12:30-09:00"'),
    ('mon: ["09:00-12:30"', 'funday: ["09:00-12:30"'),
])
def test_bad_calendars_are_refused_naming_the_field(tmp_path: Path, change: str,
                                                    message: str) -> None:
    text = (POLICY_DIR / "sla.yaml").read_text().replace(change, message, 1)
    (tmp_path / "sla.yaml").write_text(text)
    with pytest.raises(PolicyError) as err:
        load_sla_policy(tmp_path)
    assert "sla.yaml:" in str(err.value)
